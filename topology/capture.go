package topology

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/flows"
)

// AgentGroup and ProxyGroup are the group IDs that a lab's consul agents
// and Connect proxies run with (the runner starts them so). While a
// capture runs, each node's kernel tags every frame that leaves a socket
// of theirs, so that the capture knows whose every byte on a cable is
// when it crosses, without asking afterwards who held a socket that may
// be gone by then.
const (
	AgentGroup uint32 = 7_700_001
	ProxyGroup uint32 = 7_700_002
)

// Capture records every frame that leaves the nodes on any link but lo,
// IPv4, IPv6 or anything else, from sockets of its own (AF_PACKET, like
// tcpdump's, without a tcpdump), with whose socket sent it; and what
// arrives on a node that no captured node was seen sending.
type Capture struct {
	lab *Lab
	// tokens are this capture's, in its start and end markers: two, so
	// that a node that reads the start markers (root, a packet socket)
	// cannot forge an end marker before the capture stops.
	tokens map[string]string
	nodes  []*nodeTaps
	stopMu sync.Mutex
	result *WireEvidence
	err    error
}

// nodeTaps are a node's capture sockets: one per kind of sender, each
// with a kernel filter (so the kind comes with the socket a frame is read
// from).
type nodeTaps struct {
	node  *Node
	eth   int              // eth0's ifindex: where end markers leave
	mac   net.HardwareAddr // eth0's
	lo    int
	taps  []*tap
	links map[int]string // ifindex → name, read at the start and at Stop
}

type tap struct {
	node   *Node
	kind   flows.Sender // SenderAgent, SenderProxy, or SenderOther for the rest
	fd     int
	expect map[string]bool // end markers still awaited, by the sending node
	stop   chan struct{}   // closed by Stop
	done   chan struct{}   // closed when the reader has finished
	frames []frame
	trunc  int
	err    error
	tokens map[string]string // the capture's, by kind of marker
	// startedAt and endedAt are where each other node's start and end
	// markers came among frames: what arrives from a node between the
	// two left it while its own sockets captured.
	startedAt, endedAt map[string]int
	// awaitStart are the start markers still awaited; started is closed
	// once none is.
	awaitStart map[string]bool
	started    chan struct{}
}

type frame struct {
	node     string
	link     int // ifindex in the node
	outgoing bool
	// mustHaveLeft: it arrived from a captured node's address between
	// that node's start and end markers, so it left that node while the
	// node's own sockets captured (Stop sets it).
	mustHaveLeft bool
	sender       flows.Sender
	at           time.Time
	data         []byte
}

const (
	// markerType is the EtherType of the end markers: IEEE 802 local
	// experimental, which no host stack on the nodes takes up.
	markerType = 0x88B5
	// captureBuffer is each socket's receive buffer: a burst of traffic
	// while the reader is off the CPU waits there instead of being dropped.
	captureBuffer = 32 << 20
	// readTimeout is how long a read waits: after Stop, a quiet socket for
	// that long, once every awaited marker came, ends the capture.
	readTimeout = 20 * time.Millisecond
	// stopDeadline bounds Stop when an awaited marker never comes (a node
	// was disconnected during the capture).
	stopDeadline = 2 * time.Second
	frameMax     = 256 << 10 // a GSO frame on a veth can reach 64 KB
	markerPrefix = "scenario-capture-"
	startMarker  = "start"
	endMarker    = "end"
	// wireTable is the nftables table that tags the frames of the
	// scenario's agents and proxies in a node's namespace.
	wireTable = "scenario_wire"
)

// Capture starts capturing on every link but lo of the named nodes (all of
// them if none is named). Stop it to get the evidence.
func (l *Lab) Capture(nodes ...string) (*Capture, error) {
	if len(nodes) == 0 {
		for _, n := range l.Nodes() {
			nodes = append(nodes, n.name)
		}
	}
	c := &Capture{lab: l, tokens: map[string]string{}}
	for _, kind := range []string{startMarker, endMarker} {
		token := make([]byte, 8)
		if _, err := rand.Read(token); err != nil {
			return nil, err
		}
		c.tokens[kind] = hex.EncodeToString(token)
	}
	seen := map[string]bool{}
	for _, name := range nodes {
		n, ok := l.Node(name)
		if !ok {
			return nil, fmt.Errorf("capturing: no node %q in this lab", name)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		nt, err := readLinks(n)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, nt)
	}
	for _, nt := range c.nodes {
		if err := nt.node.tagSenders(); err != nil {
			c.closeAll()
			return nil, err
		}
		if err := nt.open(c.tokens); err != nil {
			c.closeAll()
			return nil, err
		}
	}
	// Each connected node announces that its sockets are open; the
	// capture starts once every node's marker reached every other, so
	// that what arrives from a node after its marker must have been seen
	// leaving it.
	connected := c.connected()
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			t.awaitStart = c.othersConnected(nt, connected)
			go t.read()
		}
	}
	for _, nt := range c.nodes {
		if !connected[nt.node.name] {
			continue
		}
		if err := nt.sendMarker(startMarker, c.tokens[startMarker]); err != nil {
			_ = c.stopReaders()
			return nil, err
		}
	}
	deadline := time.After(stopDeadline)
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			select {
			case <-t.started:
			case <-deadline:
				// Stop says which never came.
			}
		}
	}
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// readLinks reads the node's links: their indexes, names and addresses.
func readLinks(n *Node) (*nodeTaps, error) {
	nt := &nodeTaps{node: n}
	err := n.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		nt.links = map[int]string{}
		for _, i := range ifs {
			nt.links[i.Index] = i.Name
			switch {
			case i.Flags&net.FlagLoopback != 0:
				nt.lo = i.Index
			case i.Name == nodeLink:
				nt.eth, nt.mac = i.Index, i.HardwareAddr
			}
		}
		return nil
	})
	if err == nil && (nt.lo == 0 || nt.eth == 0) {
		err = fmt.Errorf("lo or %s is missing", nodeLink)
	}
	if err != nil {
		return nil, fmt.Errorf("capturing on node %s: reading its links: %w", n.name, err)
	}
	return nt, nil
}

// macs lists the hardware addresses of the node's links (lo's is none).
func (nt *nodeTaps) macs() []net.HardwareAddr {
	var out []net.HardwareAddr
	_ = nt.node.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			if i.Index != nt.lo && len(i.HardwareAddr) == 6 {
				out = append(out, i.HardwareAddr)
			}
		}
		return err
	})
	return out
}

// tagSenders makes the node's kernel mark every packet that a socket of
// group AgentGroup or ProxyGroup sends, so that a capture socket's filter
// can tell them apart. In nftables terms, on the output hook:
//
//	meta mark set 0
//	meta skgid G meta mark set G ct mark set G   (G: each group)
//	meta mark 0 meta mark set ct mark
//
// A socket's own mark (SO_MARK) is overwritten: no process can pass for
// an agent or a proxy by setting it. The connection's mark carries the tag
// to what the kernel sends for a socket its process has closed already
// (the rest of a reply written just before close, a retransmission), which
// no longer has a group. Once per node; the table goes with the namespace.
func (n *Node) tagSenders() error {
	if err := n.open(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sendersTagged {
		return nil
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(n.handle)))
	if err != nil {
		return fmt.Errorf("node %s: nftables: %w", n.name, err)
	}
	table := conn.AddTable(&nftables.Table{Name: wireTable, Family: nftables.TableFamilyINet})
	chain := conn.AddChain(&nftables.Chain{Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	for _, g := range []uint32{AgentGroup, ProxyGroup} {
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeySKGID, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(g)},
			&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(g)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
			&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: 1},
		}})
	}
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("node %s: tagging the agents' and proxies' frames with nftables: %w", n.name, err)
	}
	n.sendersTagged = true
	return nil
}

// open opens the node's three capture sockets (agents', proxies', the
// rest, which also keeps every frame that arrives). Each is made with protocol 0, which receives nothing, given its
// filter, and only then bound to ETH_P_ALL on every link (ifindex 0, so
// that a link made during the capture is seen too): a socket made with
// ETH_P_ALL would receive before its filter is in place.
func (nt *nodeTaps) open(tokens map[string]string) error {
	for _, kind := range []flows.Sender{flows.SenderAgent, flows.SenderProxy, flows.SenderOther} {
		prog, err := tapFilter(kind, nt.lo)
		if err != nil {
			return fmt.Errorf("capturing on node %s: %w", nt.node.name, err)
		}
		t := &tap{node: nt.node, kind: kind, fd: -1, stop: make(chan struct{}), done: make(chan struct{}), tokens: tokens,
			startedAt: map[string]int{}, endedAt: map[string]int{}, started: make(chan struct{})}
		err = nt.node.Do(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("packet socket: %w", err)
			}
			t.fd = fd
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureBuffer); err != nil {
				return fmt.Errorf("packet socket: SO_RCVBUFFORCE: %w", err)
			}
			tv := unix.NsecToTimeval(readTimeout.Nanoseconds())
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("packet socket: SO_RCVTIMEO: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
				return fmt.Errorf("packet socket: SO_TIMESTAMPNS: %w", err)
			}
			filter := make([]unix.SockFilter, len(prog))
			for i, r := range prog {
				filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
			}
			if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
				&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
				return fmt.Errorf("packet socket: attaching its filter: %w", err)
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
				return fmt.Errorf("binding a packet socket: %w", err)
			}
			return nil
		})
		if t.fd >= 0 {
			nt.taps = append(nt.taps, t) // closed by closeAll on error
		}
		if err != nil {
			return fmt.Errorf("capturing on node %s: %w", nt.node.name, err)
		}
	}
	return nil
}

// tapFilter is the kernel filter of a node's capture socket for kind: never
// lo; always this capture's end markers; frames leaving the node, by the
// sender's mark (AgentGroup, ProxyGroup, or neither for SenderOther); and,
// for SenderOther only, every frame arriving. The lab's own frames are
// kept once, where they leave; each copy that arrives must be one of them
// (WireEvidence.add): a frame sent past the node's packet taps
// (PACKET_QDISC_BYPASS) is seen only where it arrives, whoever's address
// it bears.
func tapFilter(kind flows.Sender, lo int) ([]bpf.RawInstruction, error) {
	keep, drop := bpf.RetConstant{Val: frameMax}, bpf.RetConstant{Val: 0}
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(lo), SkipFalse: 1},
		drop,
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: markerType, SkipFalse: 1},
		keep,
		bpf.LoadExtension{Num: bpf.ExtType},
	}
	var leaving, arriving []bpf.Instruction
	switch kind {
	case flows.SenderAgent, flows.SenderProxy:
		mark := AgentGroup
		if kind == flows.SenderProxy {
			mark = ProxyGroup
		}
		leaving = []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtMark},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: mark, SkipFalse: 1},
			keep,
			drop,
		}
		arriving = []bpf.Instruction{drop}
	default:
		leaving = []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtMark},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: AgentGroup, SkipFalse: 1},
			drop,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: ProxyGroup, SkipFalse: 1},
			drop,
			keep,
		}
		arriving = []bpf.Instruction{keep}
	}
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: uint8(len(leaving))})
	prog = append(append(prog, leaving...), arriving...)
	return bpf.Assemble(prog)
}

func (c *Capture) closeAll() {
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			unix.Close(t.fd)
		}
	}
}

func (t *tap) read() {
	defer close(t.done)
	buf := make([]byte, frameMax)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	var stopAt time.Time
	stopping := false
	startedClosed := len(t.awaitStart) == 0
	if startedClosed {
		close(t.started)
	}
	for {
		if !stopping {
			select {
			case <-t.stop:
				stopping, stopAt = true, time.Now()
			default:
			}
		}
		n, oobn, _, from, err := unix.Recvmsg(t.fd, buf, oob, unix.MSG_TRUNC)
		switch {
		case err == nil:
			if n > len(buf) {
				t.trunc++
				n = len(buf)
			}
			f := frame{node: t.node.name, at: timestamp(oob[:oobn])}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok {
				f.link, f.outgoing = ll.Ifindex, ll.Pkttype == unix.PACKET_OUTGOING
			}
			if kind, sender, ok := t.marker(buf[:n]); ok {
				if kind == startMarker {
					if _, seen := t.startedAt[sender]; !seen {
						t.startedAt[sender] = len(t.frames)
					}
					delete(t.awaitStart, sender)
					if len(t.awaitStart) == 0 && !startedClosed {
						close(t.started)
						startedClosed = true
					}
					continue
				}
				// End markers are sent only after Stop closed t.stop,
				// which also published t.expect.
				if !stopping {
					<-t.stop
					stopping, stopAt = true, time.Now()
				}
				delete(t.expect, sender)
				if _, seen := t.endedAt[sender]; !seen {
					t.endedAt[sender] = len(t.frames)
				}
				continue
			}
			f.sender = t.kind
			if !f.outgoing {
				f.sender = flows.SenderOutside
			}
			f.data = append([]byte(nil), buf[:n]...)
			t.frames = append(t.frames, f)
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			// A quiet socket: done once stopping, with every marker in
			// (or the deadline past).
			if stopping && (len(t.expect) == 0 || time.Since(stopAt) > stopDeadline) {
				return
			}
		default:
			t.err = fmt.Errorf("capturing on node %s: %w", t.node.name, err)
			return
		}
	}
}

// timestamp reads the kernel's receive time of a frame (SO_TIMESTAMPNS);
// the time of reading when there is none.
func timestamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS &&
				len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(int64(ts.Sec), int64(ts.Nsec))
			}
		}
	}
	return time.Now()
}

// marker recognizes a start or end marker of this capture and names its
// sender.
func (t *tap) marker(f []byte) (kind, sender string, ok bool) {
	if len(f) < 14 || binary.BigEndian.Uint16(f[12:14]) != markerType {
		return "", "", false
	}
	prefix, sender, ok := strings.Cut(string(f[14:]), " ")
	if !ok {
		return "", "", false
	}
	for _, kind := range []string{startMarker, endMarker} {
		if prefix == markerPrefix+kind+":"+t.tokens[kind] {
			return kind, strings.TrimRight(sender, "\x00"), true
		}
	}
	return "", "", false
}

// connected says which captured nodes have their cable.
func (c *Capture) connected() map[string]bool {
	connected := map[string]bool{}
	for _, nt := range c.nodes {
		connected[nt.node.name] = !nt.node.isDisconnected()
	}
	return connected
}

// othersConnected are the nodes whose markers nt's sockets should see:
// every other captured node's, if both ends are connected.
func (c *Capture) othersConnected(nt *nodeTaps, connected map[string]bool) map[string]bool {
	others := map[string]bool{}
	if !connected[nt.node.name] {
		return others
	}
	for _, o := range c.nodes {
		if o != nt && connected[o.node.name] {
			others[o.node.name] = true
		}
	}
	return others
}

// stopReaders ends the readers of a capture that could not start.
func (c *Capture) stopReaders() error {
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			t.expect = map[string]bool{}
			close(t.stop)
		}
	}
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			<-t.done
		}
	}
	c.closeAll()
	return nil
}

// Stop ends the capture without losing a frame that crossed before it was
// called: each node sends an end marker frame from its eth0, and each
// socket is read until every marker it should see has come and it has
// been quiet for a moment. The result is the same for every call.
func (c *Capture) Stop() (*WireEvidence, error) {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if c.result != nil || c.err != nil {
		return c.result, c.err
	}
	// Which markers each socket should see: every other captured node's,
	// if both ends are connected; its own node's it may see or not.
	connected := c.connected()
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			t.expect = c.othersConnected(nt, connected)
		}
	}
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			close(t.stop)
		}
	}
	var errs []error
	for _, nt := range c.nodes {
		if !connected[nt.node.name] {
			continue // its cable is cut: nobody would see the marker
		}
		if err := nt.sendMarker(endMarker, c.tokens[endMarker]); err != nil {
			errs = append(errs, err)
		}
	}
	ev := newEvidence(c.lab)
	for _, nt := range c.nodes {
		for _, t := range nt.taps {
			<-t.done
			if stats, err := unix.GetsockoptTpacketStats(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				ev.Dropped += int(stats.Drops)
			}
			// Closing a packet socket waits for an RCU grace period
			// (packet_release): tens of milliseconds each on a busy
			// machine, of no use to the evidence.
			go unix.Close(t.fd)
			if t.err != nil {
				errs = append(errs, t.err)
			}
			for sender := range t.expect {
				ev.Incomplete = append(ev.Incomplete, fmt.Sprintf("node %s never saw node %s's end marker: frames still in flight to it may be missing", t.node.name, sender))
			}
			for sender := range t.awaitStart {
				ev.Incomplete = append(ev.Incomplete, fmt.Sprintf("node %s never saw node %s's start marker: what it received from that node cannot be told from frames sent past the capture", t.node.name, sender))
			}
			ev.Truncated += t.trunc
		}
	}
	// The links as they are now: one made during the capture is named,
	// and its frames at the other end are known as the lab's own.
	for _, nt := range c.nodes {
		if later, err := readLinks(nt.node); err == nil {
			for i, name := range later.links {
				nt.links[i] = name
			}
		}
		for _, mac := range nt.macs() {
			ev.labMACs[string(mac)] = nt.node.name
		}
	}
	for _, nt := range c.nodes {
		ev.links[nt.node.name] = nt.links
		for _, t := range nt.taps {
			for i, f := range t.frames {
				if from := ev.labMACs[macOf(f.data)]; !f.outgoing && from != "" {
					start, started := t.startedAt[from]
					end, ended := t.endedAt[from]
					if from == nt.node.name {
						start, started, ended = 0, true, false
					}
					f.mustHaveLeft = started && i >= start && (!ended || i < end)
				}
				ev.add(f)
			}
		}
	}
	ev.finish()
	c.result, c.err = ev, errors.Join(errs...)
	return c.result, c.err
}

// sendMarker sends this capture's end marker, a broadcast frame, out of
// the node's eth0 (from its first socket, which does not see it; the
// node's other sockets do, and ignore their own node's marker).
func (nt *nodeTaps) sendMarker(kind, token string) error {
	payload := markerPrefix + kind + ":" + token + " " + nt.node.name
	f := make([]byte, 14, 14+len(payload)+46)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], nt.mac) // a bridge drops a frame from an invalid (zero) address
	binary.BigEndian.PutUint16(f[12:14], markerType)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	addr := &unix.SockaddrLinklayer{Protocol: htons(markerType), Ifindex: nt.eth, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(nt.taps[0].fd, f, 0, addr); err != nil {
		return fmt.Errorf("sending the capture's %s marker from node %s: %w", kind, nt.node.name, err)
	}
	return nil
}
