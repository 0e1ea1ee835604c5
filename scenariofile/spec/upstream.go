package spec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"
)

// errNoUpstream: no upstream has the name at all (validation reports that
// as an unknown upstream, apart from an ambiguous one).
var errNoUpstream = errors.New("no upstream")

// PickUpstream finds the upstream that SERVICE/NAME (or NAME@DC, when dc
// is set) means among a sidecar's upstreams: the only one named NAME; of
// several, the one in datacenter dc, or without dc the local one (no
// datacenter). Every step that follows the path (the dial, the deny's
// evidence, the wire's judgement) picks with it, so that all of them speak
// of the same listener.
func PickUpstream(ups []api.Upstream, name, dc string) (*api.Upstream, error) {
	var named []int
	for i, u := range ups {
		if u.DestinationName == name {
			named = append(named, i)
		}
	}
	if len(named) == 0 {
		return nil, fmt.Errorf("%w %q", errNoUpstream, name)
	}
	var picked []int
	for _, i := range named {
		if ups[i].Datacenter == dc || (dc == "" && len(named) == 1) {
			picked = append(picked, i)
		}
	}
	switch {
	case len(picked) == 1:
		return &ups[picked[0]], nil
	case len(picked) == 0 && dc == "":
		return nil, fmt.Errorf("%d upstreams %q, none of them local (%s): say which with SERVICE/%s@DC", len(named), name, describeUpstreams(ups, named), name)
	case len(picked) == 0:
		return nil, fmt.Errorf("no upstream %q in datacenter %s (there are: %s)", name, dc, describeUpstreams(ups, named))
	}
	return nil, fmt.Errorf("%d upstreams %q%s (%s): say which by its address", len(picked), name, inDC(dc), describeUpstreams(ups, picked))
}

func inDC(dc string) string {
	if dc == "" {
		return " in the local datacenter"
	}
	return " in datacenter " + dc
}

// describeUpstreams lists upstreams by datacenter and local listener.
func describeUpstreams(ups []api.Upstream, which []int) string {
	var out []string
	for _, i := range which {
		u := ups[i]
		where := "local"
		if u.Datacenter != "" {
			where = "@" + u.Datacenter
		}
		out = append(out, fmt.Sprintf("%s %s on %s:%d", u.DestinationName, where, BindHost(u.LocalBindAddress), u.LocalBindPort))
	}
	return strings.Join(out, ", ")
}

// BindHost is the host to dial a listener bound to addr at: a wildcard
// or no address is listened on at loopback too.
func BindHost(addr string) string {
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		return "127.0.0.1"
	}
	return addr
}

// TargetRef is where a probe or a send goes, as a step names it:
// SERVICE/UPSTREAM (or SERVICE/UPSTREAM@DC), an upstream listener of a
// registered service's sidecar, or a literal host:port (Addr).
type TargetRef struct {
	Service, Upstream, Datacenter string
	Addr                          string
}

// Target reads n as SERVICE/UPSTREAM or host:port: the service must be
// registered by an earlier step, its upstream one picked unambiguously
// (PickUpstream), and its sidecar started (else a warning); an address
// in a scenario with nodes needs the item's node to dial from.
func (d *Decoder) Target(n *yaml.Node, what string) TargetRef {
	s, ok := d.String(n, what)
	if !ok {
		return TargetRef{}
	}
	if svc, up, found := strings.Cut(s, "/"); found && !strings.Contains(s, ":") {
		up, dc, hasDC := strings.Cut(up, "@")
		if svc == "" || up == "" || (hasDC && dc == "") {
			d.Errorf(n, "%s: %q must be SERVICE/UPSTREAM, like web/socat (or SERVICE/UPSTREAM@DC, like web/socat@dc2, to pick among upstreams of one name)", what, s)
			return TargetRef{}
		}
		d.NeedAgent(n, what+" "+s)
		if d.Defined(KindService, svc) {
			for _, in := range d.Instances(svc) {
				if ups := in.Upstreams(); len(ups) > 0 {
					if _, err := PickUpstream(ups, up, dc); err != nil && !errors.Is(err, errNoUpstream) {
						d.Errorf(n, "%s: %s has %v", what, svc, err)
					}
				}
			}
			if d.Use(KindUpstream, svc+"/"+up, n) && !d.SidecarStarted(svc) {
				// A warning: the probe fails at run time, naming whatever
				// listens there instead.
				d.Warnf(n, "%s: no earlier step starts the sidecar of %s, so nothing of the mesh listens for %s (add `sidecar: %s` before)", what, svc, s, svc)
			}
		} else {
			d.Use(KindService, svc, n)
		}
		return TargetRef{Service: svc, Upstream: up, Datacenter: dc}
	}
	t := TargetRef{Addr: d.Address(n, what)}
	if t.Addr != "" && len(d.Nodes()) > 0 && d.Node() == "" {
		// Dialled from nowhere in particular, the probe would start on the
		// node it names (or the first agent's) and prove nothing about the
		// network between nodes: it answers even with that node cut off.
		d.Errorf(n, "%s: %s is an address, and in a scenario with nodes a probe to an address dials from the node the item names: say which with `node:` (one of %s)",
			what, t.Addr, strings.Join(d.Nodes(), ", "))
	}
	return t
}

// SidecarStarted reports whether an earlier step started (and no stop step
// stopped) the sidecar of ref, by ref itself or by its instance's ID or name.
func (d *Decoder) SidecarStarted(ref string) bool {
	if d.External {
		return true // the existing cluster's sidecars run already
	}
	if d.Defined(KindProcess, SidecarProcess(ref)) {
		return true
	}
	for _, in := range d.Instances(ref) {
		if d.Defined(KindProcess, SidecarProcess(in.ID())) || d.Defined(KindProcess, SidecarProcess(in.Reg.Name)) {
			return true
		}
	}
	return false
}
