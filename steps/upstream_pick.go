package steps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
)

// errNoUpstream: no upstream has the name at all (validation reports that
// as an unknown upstream, apart from an ambiguous one).
var errNoUpstream = errors.New("no upstream")

// pickUpstream finds the upstream that SERVICE/NAME (or NAME@DC, when dc
// is set) means among a sidecar's upstreams: the only one named NAME; of
// several, the one in datacenter dc, or without dc the local one (no
// datacenter). Every step that follows the path (the dial, the deny's
// evidence, the wire's judgement) picks with it, so that all of them speak
// of the same listener.
func pickUpstream(ups []api.Upstream, name, dc string) (*api.Upstream, error) {
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
		out = append(out, fmt.Sprintf("%s %s on %s:%d", u.DestinationName, where, bindHost(u.LocalBindAddress), u.LocalBindPort))
	}
	return strings.Join(out, ", ")
}
