package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// Wire claims a probe can make about its bytes between nodes.
const (
	WireEncrypted = "encrypted" // crossed between nodes, as TLS records only
	WirePlaintext = "plaintext" // crossed between nodes in clear (a control)
)

// minWireMarker is the shortest payload whose absence from a capture
// means something: a shorter one could appear in ciphertext by chance.
const minWireMarker = 4

// shownFlows is how many offending flows or frames a failure names.
const shownFlows = 3

// ownConnWait bounds how long an attempt waits, before it writes, to see
// the connection its source proxy opens for it. The built-in proxy and
// Envoy dial as soon as they accept, in a few milliseconds.
const ownConnWait = time.Second

// wireWatch captures every node's links while a probe runs, and follows
// the probe's own connections: for encrypted, every flow that crossed a
// cable during the probe must be accounted for by whose sockets sent it
// (TLS between two Connect proxies the scenario started, or its agents'
// own traffic), and the probe's own connection must be among those that
// crossed, identified while it existed.
type wireWatch struct {
	net     Network
	capture WireCapture
	claim   string
	env     Env    // the probe's: on the node it dials from
	node    string // that node
	target  Target

	// proxies are the public listeners of every Connect sidecar in the
	// catalog, by address, with whose they are; destination those the
	// probe may reach (what describes them).
	proxies     map[netip.AddrPort]string
	destination []netip.AddrPort
	what        string
	// own are the probe node's addresses: a connection to one of them
	// crosses no cable.
	own map[netip.Addr]bool

	// source is the Connect proxy the probe dials through; nil when the
	// runner's own connection carries the probe (a Connect-native probe,
	// or an address no proxy of the scenario listens on: sourceWhy).
	source    *sourceProxy
	sourceWhy string

	attempts []*ownAttempt
	current  *ownAttempt
	evidence flows.Evidence
}

// sourceProxy is the Connect proxy a probe dials: the connections it
// opens for the probe are the probe's own.
type sourceProxy struct {
	name    string // as the scenario names it: sidecar/web
	pids    []int
	public  uint16 // its public listener's port (what it accepts there is inbound)
	listens []netip.AddrPort
	before  map[string]bool // its socket inodes when the attempt dialled
}

// ownAttempt is what carried one attempt of the probe.
type ownAttempt struct {
	conns []ownConn
	why   string // why its own connection could not be told
	held  bool
}

// ownConn is one connection that carried the probe (or may have: when
// several opened at once, all count).
type ownConn struct {
	local, remote netip.AddrPort
	runner        bool // the runner's own socket (no source proxy)
	crosses       bool
}

func watchWire(ctx context.Context, env Env, target Target, claim string) (*wireWatch, error) {
	net := env.Network()
	if net == nil {
		return nil, errors.New("wire: evidence from the wire needs a scenario with nodes")
	}
	w := &wireWatch{net: net, claim: claim, env: env, node: env.Node(), target: target}
	if claim == WireEncrypted {
		if err := w.prepare(ctx); err != nil {
			return nil, err
		}
	}
	c, err := net.Capture()
	if err != nil {
		return nil, fmt.Errorf("wire: starting the capture: %w", err)
	}
	w.capture = c
	return w, nil
}

// prepare learns, before the capture starts, where the Connect proxies
// listen (the catalog), the probe node's addresses, and which proxy the
// probe dials through.
func (w *wireWatch) prepare(ctx context.Context) error {
	var err error
	if w.destination, w.what, err = w.sidecarListeners(ctx); err != nil {
		return fmt.Errorf("wire: asking the catalog where the Connect sidecars listen: %w", err)
	}
	if w.proxies, err = w.allSidecars(ctx); err != nil {
		return fmt.Errorf("wire: asking the catalog where the Connect sidecars listen: %w", err)
	}
	w.own = map[netip.Addr]bool{}
	if err := w.env.Inside(func() error {
		addrs, err := net.InterfaceAddrs()
		for _, a := range addrs {
			if p, perr := netip.ParsePrefix(a.String()); perr == nil {
				w.own[p.Addr()] = true
			}
		}
		return err
	}); err != nil {
		return fmt.Errorf("wire: reading node %s's addresses: %w", w.node, err)
	}
	switch {
	case w.target.Native:
		return nil // the runner is the Connect client
	case w.target.Service != "":
		return w.useSource(ctx, spec.SidecarProcess(w.target.Service))
	}
	return nil // an address: its holder is found at the first dial
}

// useSource makes the scenario's process name (a sidecar on the probe's
// node) the probe's source proxy.
func (w *wireWatch) useSource(ctx context.Context, name string) error {
	p, ok := w.env.Process(name)
	if !ok {
		w.sourceWhy = fmt.Sprintf("no %s runs on node %s", name, orAnyNode(w.node))
		return nil
	}
	s := &sourceProxy{name: name, pids: proc.GroupMembers(p.Pid())}
	if svc, ok := strings.CutPrefix(name, spec.SidecarPrefix); ok {
		if client, err := w.env.Consul(); err == nil {
			if reg, err := SidecarOf(ctx, client, svc); err == nil {
				s.public = uint16(reg.Port)
			}
		}
	}
	inodes := sockets.Inodes(s.pids)
	err := w.env.Inside(func() error {
		ls, err := sockets.Listeners()
		for _, l := range ls {
			if inodes[l.Inode] {
				s.listens = append(s.listens, addrPort(l.Addr))
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("wire: reading %s's listeners: %w", name, err)
	}
	w.source = s
	return nil
}

// dialing starts an attempt: what the source proxy holds before it.
func (w *wireWatch) dialing() {
	if w == nil || w.claim != WireEncrypted {
		return
	}
	w.current = &ownAttempt{}
	w.attempts = append(w.attempts, w.current)
	if w.source != nil {
		w.source.before = sockets.Inodes(w.source.pids)
	}
}

// dialed records the attempt's own connection, before anything is
// written on it: while the probe sends nothing, no backend can answer
// and close, so the connection its source proxy opened for it is there
// to be seen, whatever the backend does next.
func (w *wireWatch) dialed(ctx context.Context, conn net.Conn, addr string) {
	if w == nil || w.current == nil {
		return
	}
	local, remote := netAddrPort(conn.LocalAddr()), netAddrPort(conn.RemoteAddr())
	if w.source == nil && !w.target.Native && w.sourceWhy == "" {
		w.findSource(ctx, remote)
	}
	if w.source == nil {
		c := ownConn{local: local, remote: remote, runner: true}
		c.crosses = w.crosses(remote)
		w.current.conns = []ownConn{c}
		return
	}
	w.current.conns, w.current.why = w.source.follow(ctx, w, local)
}

// findSource looks for the process listening where an address probe
// dials: when it is a Connect proxy of the scenario, that is the source.
func (w *wireWatch) findSource(ctx context.Context, dialled netip.AddrPort) {
	var holders []sockets.Process
	_ = w.env.Inside(func() error {
		ls, err := sockets.Taking(net.TCPAddrFromAddrPort(dialled))
		for _, l := range ls {
			holders = append(holders, sockets.Topmost(sockets.Holders(l.Inode))...)
		}
		return err
	})
	for _, h := range holders {
		owner := w.env.OwnerOf(h.PID, h.PGID)
		_, name, _ := strings.Cut(owner, "/") // node/name on a node
		if name == "" {
			name = owner
		}
		if spec.IsSidecar(name) {
			if err := w.useSource(ctx, name); err == nil && w.source != nil {
				return
			}
		}
	}
	if w.crosses(dialled) {
		w.sourceWhy = fmt.Sprintf("the probe dials %s from node %s itself: the runner's own connection crosses the cable, not a Connect proxy's", dialled, orAnyNode(w.node))
		return
	}
	who := "nothing"
	if len(holders) > 0 {
		who = w.describeHolders(holders)
	}
	w.sourceWhy = fmt.Sprintf("the probe dials %s on node %s, held by %s, not a Connect proxy the scenario started", dialled, orAnyNode(w.node), who)
}

// follow waits until the proxy's connections for the probe are seen: new
// sockets of the proxy to a Connect proxy's public listener, at least as
// many as the connections it newly accepted on its other listeners (the
// probe's, and any that came at the same moment: each gets one), once the
// probe's own has been accepted. Every such connection counts as the
// probe's: when two opened at once, which carried the probe cannot be
// told, so both must cross.
func (s *sourceProxy) follow(ctx context.Context, w *wireWatch, probe netip.AddrPort) ([]ownConn, string) {
	var found []ownConn
	var last string
	cond := wait.Func(s.name+"'s connection for the probe", func(context.Context) error {
		inodes := sockets.Inodes(s.pids)
		var conns []sockets.Conn
		if err := w.env.Inside(func() error {
			var err error
			conns, err = sockets.Connections()
			return err
		}); err != nil {
			return wait.Fatal(err)
		}
		accepted, ours := 0, false
		found = found[:0]
		for _, c := range conns {
			if !inodes[c.Inode] || s.before[c.Inode] {
				continue
			}
			local, remote := addrPort(c.Local), addrPort(c.Remote)
			if s.accepts(local) {
				if local.Port() != s.public {
					accepted++
					ours = ours || remote == probe
				}
				continue
			}
			if _, ok := w.proxies[remote]; ok {
				found = append(found, ownConn{local: local, remote: remote, crosses: w.crosses(remote)})
			}
		}
		switch {
		case !ours:
			last = fmt.Sprintf("%s had not accepted the probe's connection from %s", s.name, probe)
		case len(found) < accepted:
			last = fmt.Sprintf("%s accepted %d new connection(s), the probe's among them, and had opened %d to a Connect proxy", s.name, accepted, len(found))
		default:
			return nil
		}
		return errors.New(last)
	})
	err := wait.For(ctx, cond, wait.Options{Timeout: ownConnWait, MinInterval: 500 * time.Microsecond, MaxInterval: 2 * time.Millisecond})
	if err != nil {
		return nil, fmt.Sprintf("the connection %s opened for the probe was not seen: %s", s.name, last)
	}
	return slices.Clone(found), ""
}

// accepts says whether local is one of the proxy's listeners (a socket
// there was accepted, not dialled).
func (s *sourceProxy) accepts(local netip.AddrPort) bool {
	for _, l := range s.listens {
		if l.Port() == local.Port() && (l.Addr() == local.Addr() || l.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// crosses says whether a connection to remote leaves the probe's node.
func (w *wireWatch) crosses(remote netip.AddrPort) bool {
	a := remote.Addr().Unmap()
	return !a.IsLoopback() && !a.IsUnspecified() && !w.own[a]
}

// settle ends an attempt: for encrypted, one that held counts only if its
// own connection crossed to another node (otherwise it is retried, as an
// attempt that did something else).
func (w *wireWatch) settle(attemptErr error) error {
	if w == nil || w.current == nil {
		return attemptErr
	}
	a := w.current
	w.current = nil
	a.held = attemptErr == nil
	if !a.held {
		return attemptErr
	}
	why := w.stayed(a)
	switch {
	case why == "":
		return nil
	case w.source == nil && w.sourceWhy != "":
		// No Connect proxy carries this probe: dialling again changes
		// nothing.
		return wait.Fatal(fmt.Errorf("wire: %s", why))
	case !slices.ContainsFunc(w.destination, w.crosses):
		return wait.Fatal(fmt.Errorf("wire: %s; the catalog has %s only on node %s (%s), so no attempt can cross a cable",
			why, w.what, orAnyNode(w.node), joinAddrPorts(w.destination)))
	}
	// Another attempt may be sent to another node.
	return fmt.Errorf("wire: %s", why)
}

// stayed says why an attempt's own connection did not cross a cable
// ("" if it did).
func (w *wireWatch) stayed(a *ownAttempt) string {
	switch {
	case a.why != "":
		return a.why
	case w.source == nil && w.sourceWhy != "":
		return w.sourceWhy
	case len(a.conns) == 0:
		return "no connection carried the probe"
	}
	for _, c := range a.conns {
		if c.crosses {
			continue
		}
		who := "the probe's own connection"
		if !c.runner {
			who = fmt.Sprintf("%s's connection for the probe", w.source.name)
		}
		return fmt.Sprintf("the probe was answered on node %s itself: %s went to %s (%s), so it crossed no cable",
			orAnyNode(w.node), who, c.remote, w.proxyAt(c.remote))
	}
	return ""
}

func (w *wireWatch) proxyAt(a netip.AddrPort) string {
	if what, ok := w.proxies[a]; ok {
		return what + " on node " + orAnyNode(w.nodeOf(a.Addr()))
	}
	return "not a Connect proxy in the catalog"
}

func (w *wireWatch) nodeOf(a netip.Addr) string {
	if w.own[a.Unmap()] || a.IsLoopback() {
		return w.node
	}
	return w.net.NodeAt(a.Unmap())
}

// stop ends the capture once.
func (w *wireWatch) stop() (flows.Evidence, error) {
	if w.evidence != nil {
		return w.evidence, nil
	}
	ev, err := w.capture.Stop()
	if err != nil {
		return nil, fmt.Errorf("wire: stopping the capture: %w", err)
	}
	w.evidence = ev
	return ev, nil
}

// judge stops the capture and checks claim against what crossed the
// cables. For plaintext: what was sent crossed between nodes in clear.
// For encrypted: the capture is complete and every frame classified; the
// probe's bytes (as sent, as they came back, in either case) are nowhere
// in clear; every flow that carried payload is accounted for by whose
// sockets sent it: TLS records end to end between two Connect proxies the
// scenario started (or from the runner's own Connect-native probe to
// one), or the scenario's agents' own traffic; and the probe's own
// connection, recorded while it existed, crossed to a sidecar of its
// destination. It returns a summary of the evidence for the step's notes.
func (w *wireWatch) judge(ctx context.Context, sent, got []byte) (string, error) {
	ev, err := w.stop()
	if err != nil {
		return "", err
	}
	w.env.Captured(ev)
	tally := ev.Tallied()
	if tally.Dropped > 0 || tally.Truncated > 0 || len(tally.Incomplete) > 0 {
		return "", fmt.Errorf("wire: the capture is incomplete, so it proves nothing: %s", ev.Summary())
	}
	if w.claim == WirePlaintext {
		for _, ref := range ev.Contains(sent) {
			if s, ok := ev.Stream(ref.Flow); ok && s.Client.Node != "" && s.Server.Node != "" && s.Client.Node != s.Server.Node {
				return fmt.Sprintf("wire: %s crossed between nodes in clear: %s", Quote(sent), ref), nil
			}
		}
		return "", fmt.Errorf("wire: expected %s to cross between nodes in clear, but it did not: %s", Quote(sent), ev.Summary())
	}
	if len(tally.Unclassified) > 0 {
		return "", fmt.Errorf("wire: the capture saw %d frame(s) it cannot account for byte by byte, so it cannot show that nothing crossed in clear: %s",
			len(tally.Unclassified), strings.Join(firstN(tally.Unclassified, shownFlows), "; "))
	}
	// Where the probe's bytes are in clear, as sent or as they came back,
	// in either case.
	clear := map[flows.Flow]flows.Ref{}
	var clearOrder []flows.Ref
	// Also without the white space around them: a relay that reads
	// lines (a shell's read) drops the newline.
	for _, marker := range [][]byte{sent, got, bytes.TrimSpace(sent), bytes.TrimSpace(got)} {
		if len(marker) < minWireMarker {
			continue
		}
		for _, ref := range ev.ContainsFold(marker) {
			if _, ok := clear[ref.Flow]; !ok {
				clear[ref.Flow] = ref
				clearOrder = append(clearOrder, ref)
			}
		}
	}
	inClear := func(s *flows.Stream) string {
		if ref, ok := clear[s.Flow]; ok {
			dir := "to the server"
			if !ref.ToServer {
				dir = "to the client"
			}
			return fmt.Sprintf(", with the probe's bytes in clear (%s, at byte %d)", dir, ref.Offset)
		}
		return ""
	}
	owned := map[flows.Flow]bool{} // the probe's own flows, of attempts that held
	for _, a := range w.attempts {
		if !a.held || w.stayed(a) != "" {
			continue
		}
		for _, c := range a.conns {
			owned[flows.Flow{Proto: "tcp", Client: c.local, Server: c.remote}] = true
		}
	}
	var unaccounted []*flows.Stream
	agents, proxies := 0, 0
	for _, s := range ev.Streams() {
		if s.Payload() == 0 {
			continue
		}
		runnerOwn := owned[s.Flow] && w.source == nil && s.Client.Sent&^flows.SenderOther == 0
		switch carrier := s.Carrier(); {
		case carrier == flows.SenderAgent:
			agents++
		case carrier == flows.SenderProxy || (runnerOwn && s.Server.Sent == flows.SenderProxy):
			if ok, why := ev.TLSRecords(s.Flow); !ok {
				return "", fmt.Errorf("wire: %s is between Connect proxies, but not TLS from end to end: %s", w.describe(s, false), why)
			}
			proxies++
		default:
			unaccounted = append(unaccounted, s)
		}
	}
	if len(unaccounted) > 0 {
		// The first few, with the processes holding their ends (a look
		// through every process for each).
		var named []string
		for _, s := range unaccounted[:min(len(unaccounted), shownFlows)] {
			named = append(named, w.describe(s, true)+inClear(s))
		}
		if more := len(unaccounted) - len(named); more > 0 {
			named = append(named, fmt.Sprintf("and %d more", more))
		}
		return "", fmt.Errorf("wire: %d flow(s) crossed a cable during the probe that neither TLS between the scenario's Connect proxies nor its agents' own traffic accounts for: %s",
			len(unaccounted), strings.Join(named, "; "))
	}
	// Accounted for, yet in clear: the agents' own traffic carrying what
	// a backend handed to its agent.
	if len(clearOrder) > 0 {
		ref := clearOrder[0]
		s, _ := ev.Stream(ref.Flow)
		return "", fmt.Errorf("wire: the probe's bytes appear in clear on the wire, in the scenario's own traffic: %s (%s)", ref, w.describe(s, true))
	}
	var mine []string
	for f := range owned {
		s, ok := ev.Stream(f)
		switch {
		case !ok || s.Payload() == 0:
			return "", fmt.Errorf("wire: the probe's own connection %s crossed no captured cable with payload", f)
		case len(s.ToServer) == 0 || len(s.ToClient) == 0:
			return "", fmt.Errorf("wire: the probe's own connection %s carried bytes one way only", w.describe(s, false))
		case !slices.Contains(w.destination, f.Server):
			return "", fmt.Errorf("wire: the probe's own connection %s did not go to %s (%s, as the catalog has them)", w.describe(s, false), w.what, joinAddrPorts(w.destination))
		}
		mine = append(mine, w.describe(s, false))
	}
	if len(mine) == 0 {
		return "", notCrossed{fmt.Errorf("wire: no connection that carried the probe crossed a cable: %s; what the capture saw: %s", w.attemptsSummary(), ev.Summary())}
	}
	slices.Sort(mine)
	return fmt.Sprintf("wire: the probe's own connection(s) crossed as TLS records only, between %s: %s; the %d other flow(s) that crossed meanwhile were the scenario's proxies' (TLS) or agents' own; %s nowhere in clear",
		w.carriers(), strings.Join(mine, "; "), agents+proxies-len(mine), Quote(sent)), nil
}

// notCrossed is a judgement that found nothing wrong on the wire but
// the probe's own connection missing: said already when the probe failed.
type notCrossed struct{ error }

func (n notCrossed) Unwrap() error { return n.error }

func (w *wireWatch) carriers() string {
	if w.source == nil {
		return "the runner's Connect-native client and " + w.what
	}
	return w.source.name + " and " + w.what
}

// attemptsSummary says what carried the attempts, for a failure.
func (w *wireWatch) attemptsSummary() string {
	if len(w.attempts) == 0 {
		return "no attempt connected"
	}
	held := 0
	var why string
	for _, a := range w.attempts {
		if a.held {
			held++
			if s := w.stayed(a); s != "" {
				why = s
			}
		}
	}
	if held == 0 {
		return fmt.Sprintf("none of %d attempt(s) held", len(w.attempts))
	}
	return fmt.Sprintf("%d of %d attempt(s) held; %s", held, len(w.attempts), why)
}

// describe says what a flow carried and, for each end, where it sent from,
// whose socket that was as the kernel tagged it, and (owners) which
// process holds it now.
func (w *wireWatch) describe(s *flows.Stream, owners bool) string {
	if s == nil {
		return "?"
	}
	out := fmt.Sprintf("%s (%d bytes out, %d back)", s.Flow, len(s.ToServer), len(s.ToClient))
	if !owners {
		return out + fmt.Sprintf(" from node %s to node %s", orDash(s.Client.Node), orDash(s.Server.Node))
	}
	return out + ": client " + w.owner(s.Client, s.Server.Addr, s.Flow.Proto) + "; server " + w.owner(s.Server, s.Client.Addr, s.Flow.Proto)
}

// owner describes an end of a flow, naming the process that holds its
// socket now if it is still open.
func (w *wireWatch) owner(e flows.Endpoint, peer netip.AddrPort, proto string) string {
	out := e.Describe()
	if e.Node == "" || (proto != "tcp" && proto != "udp") {
		return out
	}
	var holders []sockets.Process
	_ = w.env.On(e.Node).Inside(func() error {
		var inodes []string
		if proto == "tcp" {
			conns, _ := sockets.Connections()
			for _, c := range conns {
				if addrPort(c.Local) == e.Addr && addrPort(c.Remote) == peer && c.Inode != "0" {
					inodes = append(inodes, c.Inode)
				}
			}
			if len(inodes) == 0 {
				ls, _ := sockets.Taking(net.TCPAddrFromAddrPort(e.Addr))
				for _, l := range ls {
					inodes = append(inodes, l.Inode)
				}
			}
		} else {
			conns, _ := sockets.UDPSockets()
			for _, c := range conns {
				l := addrPort(c.Local)
				if l.Port() == e.Addr.Port() && (l.Addr() == e.Addr.Addr() || l.Addr().IsUnspecified()) {
					inodes = append(inodes, c.Inode)
				}
			}
		}
		for _, inode := range inodes {
			holders = append(holders, sockets.Topmost(sockets.Holders(inode))...)
		}
		return nil
	})
	if len(holders) == 0 {
		return out + ", no socket holds it now"
	}
	return out + ", held by " + w.describeHolders(holders)
}

// describeHolders names processes, by the scenario's names when it
// started them.
func (w *wireWatch) describeHolders(hs []sockets.Process) string {
	var parts []string
	for _, h := range hs {
		if name := w.env.OwnerOf(h.PID, h.PGID); name != "" {
			parts = append(parts, fmt.Sprintf("%s (%s)", name, h))
			continue
		}
		parts = append(parts, h.String())
	}
	return strings.Join(parts, ", ")
}

// keep writes the capture of a failed wire claim into the run's log folder
// and names it in err.
func (w *wireWatch) keep(err error) error {
	if w == nil || err == nil {
		return err
	}
	ev, serr := w.stop()
	if serr != nil {
		return err
	}
	path, perr := w.WritePcap()
	if perr != nil {
		return fmt.Errorf("%w\n(the capture could not be kept: %v)", err, perr)
	}
	return fmt.Errorf("%w\nthe capture of every node's links during the probe (%d frames): %s (tcpdump -r, or Wireshark)", err, ev.Tallied().Frames, path)
}

// WritePcap writes the probe's capture into the run's log folder, as
// wire-N.pcap with the first N free, and returns its path.
func (w *wireWatch) WritePcap() (string, error) {
	ev, err := w.stop()
	if err != nil {
		return "", err
	}
	dir := w.env.RunDir()
	for i := 1; ; i++ {
		path := filepath.Join(dir, fmt.Sprintf("wire-%d.pcap", i))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, proc.LogMode)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		f.Close()
		return path, ev.WritePcapFile(path)
	}
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
		if u, err := spec.PickUpstream(proxy.Proxy.Upstreams, w.target.Upstream, w.target.Datacenter); err == nil &&
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
	all, err := w.allSidecars(ctx)
	if err != nil {
		return nil, "", err
	}
	for a := range all {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	return addrs, "a Connect sidecar", nil
}

// allSidecars lists the public listeners of every Connect sidecar in
// every datacenter's catalog, each with whose sidecar it is.
func (w *wireWatch) allSidecars(ctx context.Context) (map[netip.AddrPort]string, error) {
	client, err := w.env.Consul()
	if err != nil {
		return nil, err
	}
	dcs, err := client.Catalog().Datacenters()
	if err != nil {
		return nil, err
	}
	out := map[netip.AddrPort]string{}
	for _, dc := range dcs {
		opts := (&api.QueryOptions{Datacenter: dc}).WithContext(ctx)
		names, _, err := client.Catalog().Services(opts)
		if err != nil {
			return nil, err
		}
		for name := range names {
			instances, _, err := client.Catalog().Service(name, "", opts)
			if err != nil {
				return nil, err
			}
			for _, svc := range instances {
				if svc.ServiceProxy == nil || svc.ServiceProxy.DestinationServiceName == "" {
					continue // not a sidecar (the catalog omits the kind)
				}
				host := svc.ServiceAddress
				if host == "" {
					host = svc.Address
				}
				if ip, err := netip.ParseAddr(host); err == nil {
					out[netip.AddrPortFrom(ip, uint16(svc.ServicePort))] = svc.ServiceProxy.DestinationServiceName + "'s sidecar"
				}
			}
		}
	}
	return out, nil
}

func addrPort(a *net.TCPAddr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func netAddrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return addrPort(t)
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func firstN(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(slices.Clone(items[:n]), fmt.Sprintf("and %d more", len(items)-n))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
