package steps

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/topology"
)

// Wire claims a probe can make about its bytes between nodes.
const (
	WireEncrypted = "encrypted" // crossed between nodes, as TLS records only
	WirePlaintext = "plaintext" // crossed between nodes in clear (a control)
)

// consulPorts carry the agents' own traffic (gossip, RPC, HTTP, gRPC,
// DNS), not a probe's: a probe's bytes cross on the sidecars' ports.
var consulPorts = []uint16{8300, 8301, 8302, 8500, 8502, 8503, 8600}

// minWireMarker is the shortest payload whose absence from a capture
// means something: a shorter one could appear in ciphertext by chance.
const minWireMarker = 4

// wireWatch captures every node's cable while a probe runs.
type wireWatch struct {
	net     Network
	capture WireCapture
	// env is the probe's: on the node it dials from.
	env    Env
	target Target

	// mine are the connections between nodes that the probe's own
	// sidecar held while a reply came back (local, remote), for a
	// SERVICE/UPSTREAM probe; other traffic that crossed meanwhile (of
	// another downstream of the same destination) is not the probe's.
	mu        sync.Mutex
	mine      map[[2]netip.AddrPort]bool
	mineKnown bool
}

// noteSidecarConns records the connections that the sidecar of the
// probe's service holds to other addresses than loopback, on the probe's
// node: called while the probe's connection is open and has had its
// reply, so the sidecar's upstream connection that carried it is open.
func (w *wireWatch) noteSidecarConns() {
	if w == nil || w.target.Service == "" || w.target.Native {
		return
	}
	p, ok := w.env.Process("sidecar/" + w.target.Service)
	if !ok {
		return
	}
	inodes := sockets.Inodes(proc.GroupMembers(p.Pid()))
	var conns []sockets.Conn
	_ = w.env.Inside(func() error {
		var err error
		conns, err = sockets.Established()
		return err
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mine == nil {
		w.mine = map[[2]netip.AddrPort]bool{}
	}
	w.mineKnown = true
	for _, c := range conns {
		if !inodes[c.Inode] || c.Remote.IP.IsLoopback() {
			continue
		}
		local, _ := netip.AddrFromSlice(c.Local.IP.To4())
		remote, _ := netip.AddrFromSlice(c.Remote.IP.To4())
		w.mine[[2]netip.AddrPort{netip.AddrPortFrom(local, uint16(c.Local.Port)), netip.AddrPortFrom(remote, uint16(c.Remote.Port))}] = true
	}
}

// isMine says whether flow is one the probe's sidecar held (true when
// that could not be known: an address probe).
func (w *wireWatch) isMine(f topology.Flow) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.mineKnown || w.mine[[2]netip.AddrPort{f.Client, f.Server}]
}

func watchWire(env Env, target Target) (*wireWatch, error) {
	net := env.Network()
	if net == nil {
		return nil, errors.New("wire: evidence from the wire needs a scenario with nodes")
	}
	c, err := net.Capture()
	if err != nil {
		return nil, fmt.Errorf("wire: starting the capture: %w", err)
	}
	return &wireWatch{net: net, capture: c, env: env, target: target}, nil
}

// judge stops the capture and checks claim against what crossed between
// nodes: for encrypted, the probe's bytes crossed between two nodes, every
// flow between nodes but Consul's own is TLS records from end to end, and
// neither what was sent nor what came back appears in clear on any cable;
// for plaintext, what was sent crossed between nodes in clear. For
// encrypted, the connections that count as carrying the probe are those
// from the probe's node to the public listener of a Connect sidecar (of
// the probe's destination, when it names one) as the catalog has it: TLS
// between two nodes proves nothing about the mesh when a tunnel of
// someone else's made it, or when it was another connection that crossed
// while the probe stayed on its node. It returns a summary of the
// evidence for the step's notes.
func (w *wireWatch) judge(ctx context.Context, claim string, sent, got []byte) (string, error) {
	ev, err := w.capture.Stop()
	if err != nil {
		return "", fmt.Errorf("wire: stopping the capture: %w", err)
	}
	w.env.Captured(ev)
	if ev.Dropped > 0 || ev.Truncated > 0 || len(ev.Incomplete) > 0 {
		return "", fmt.Errorf("wire: the capture is incomplete, so it proves nothing: %s", ev.Summary())
	}
	var crossing []*topology.Stream // between two nodes, not Consul's own
	for _, s := range ev.Streams() {
		a, b := w.net.NodeAt(s.Flow.Client.Addr()), w.net.NodeAt(s.Flow.Server.Addr())
		if s.Flow.Proto != "tcp" || a == "" || b == "" || a == b ||
			slices.Contains(consulPorts, s.Flow.Server.Port()) || len(s.ToServer)+len(s.ToClient) == 0 {
			continue
		}
		crossing = append(crossing, s)
	}
	describe := func(s *topology.Stream) string {
		return fmt.Sprintf("%s (node %s → node %s, %d bytes out, %d back)", s.Flow,
			w.net.NodeAt(s.Flow.Client.Addr()), w.net.NodeAt(s.Flow.Server.Addr()), len(s.ToServer), len(s.ToClient))
	}
	var clear []topology.FlowRef
	for _, marker := range [][]byte{sent, got} {
		if len(marker) >= minWireMarker {
			clear = append(clear, ev.Contains(marker)...)
		}
	}
	switch claim {
	case WirePlaintext:
		for _, ref := range ev.Contains(sent) {
			if slices.ContainsFunc(crossing, func(s *topology.Stream) bool { return s.Flow == ref.Flow }) {
				return fmt.Sprintf("wire: %s crossed between nodes in clear: %s", Quote(sent), ref), nil
			}
		}
		return "", fmt.Errorf("wire: expected %s to cross between nodes in clear, but it did not: %s", Quote(sent), ev.Summary())
	case WireEncrypted:
		if len(crossing) == 0 {
			return "", fmt.Errorf("wire: no connection between two nodes carried the probe (outside Consul's own ports), so nothing shows it crossed the network encrypted (what the capture saw: %s)", ev.Summary())
		}
		if len(clear) > 0 {
			return "", fmt.Errorf("wire: the probe's bytes appear in clear on the wire: %s", clear[0])
		}
		for _, s := range crossing {
			if ok, why := ev.TLSRecords(s.Flow); !ok {
				return "", fmt.Errorf("wire: %s is not TLS from end to end: %s", describe(s), why)
			}
		}
		sidecars, what, err := w.sidecarListeners(ctx)
		if err != nil {
			return "", fmt.Errorf("wire: asking the catalog where the Connect sidecars listen: %w", err)
		}
		from := w.env.Node()
		var flows []string
		for _, s := range crossing {
			if (from == "" || w.net.NodeAt(s.Flow.Client.Addr()) == from) && slices.Contains(sidecars, s.Flow.Server) && w.isMine(s.Flow) {
				flows = append(flows, describe(s))
			}
		}
		if len(flows) == 0 {
			var seen []string
			for _, s := range crossing {
				seen = append(seen, describe(s))
			}
			held := ""
			if w.target.Service != "" && !w.target.Native {
				held = " held by the sidecar of " + w.target.Service
			}
			return "", fmt.Errorf("wire: no connection from node %s%s to %s (%s, as the catalog has them) carried the probe: TLS between nodes is only the mesh's when a sidecar ends it, and other traffic crossing meanwhile is not the probe's; the connections between nodes were: %s",
				orAnyNode(from), held, what, joinAddrPorts(sidecars), strings.Join(seen, "; "))
		}
		return fmt.Sprintf("wire: %d connection(s) between nodes to %s, TLS records only, and %s nowhere in clear: %s",
			len(flows), what, Quote(sent), strings.Join(flows, "; ")), nil
	}
	return "", fmt.Errorf("wire: unknown claim %q", claim)
}

// sidecarListeners lists, from the catalog, the public listeners of the
// Connect sidecars a probe of w.target may reach across nodes: those of
// its destination service for a SERVICE/UPSTREAM probe whose upstream is
// a service, or for a Connect-native probe; otherwise (a prepared query,
// an address) those of every sidecar in every datacenter. what describes
// them for messages.
func (w *wireWatch) sidecarListeners(ctx context.Context) (addrs []netip.AddrPort, what string, err error) {
	client, err := w.env.Consul()
	if err != nil {
		return nil, "", err
	}
	destination, datacenter := "", ""
	switch {
	case w.target.Native:
		destination = w.target.Upstream
	case w.target.Service != "":
		proxy, err := SidecarOf(ctx, client, w.target.Service)
		if err != nil {
			return nil, "", err
		}
		// The upstream the probe dialled (Target.Resolve picks the same way).
		if u, err := pickUpstream(proxy.Proxy.Upstreams, w.target.Upstream, w.target.Datacenter); err == nil &&
			(u.DestinationType == "" || u.DestinationType == api.UpstreamDestTypeService) {
			destination, datacenter = u.DestinationName, u.Datacenter
		}
	}
	add := func(svc *api.CatalogService) {
		host := svc.ServiceAddress
		if host == "" {
			host = svc.Address
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = append(addrs, netip.AddrPortFrom(ip, uint16(svc.ServicePort)))
		}
	}
	if destination != "" {
		proxies, _, err := client.Catalog().Connect(destination, "", (&api.QueryOptions{Datacenter: datacenter}).WithContext(ctx))
		if err != nil {
			return nil, "", err
		}
		for _, p := range proxies {
			add(p)
		}
		return addrs, "a Connect sidecar of " + destination, nil
	}
	dcs, err := client.Catalog().Datacenters()
	if err != nil {
		return nil, "", err
	}
	for _, dc := range dcs {
		opts := (&api.QueryOptions{Datacenter: dc}).WithContext(ctx)
		names, _, err := client.Catalog().Services(opts)
		if err != nil {
			return nil, "", err
		}
		for name := range names {
			instances, _, err := client.Catalog().Service(name, "", opts)
			if err != nil {
				return nil, "", err
			}
			for _, svc := range instances {
				if svc.ServiceProxy != nil && svc.ServiceProxy.DestinationServiceName != "" { // a sidecar (the catalog omits the kind)
					add(svc)
				}
			}
		}
	}
	return addrs, "a Connect sidecar", nil
}

func orAnyNode(node string) string {
	if node == "" {
		return "any node"
	}
	return node
}

func joinAddrPorts(addrs []netip.AddrPort) string {
	if len(addrs) == 0 {
		return "none registered"
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, ", ")
}
