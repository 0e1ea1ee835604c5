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

	"golang.org/x/sys/unix"
)

// Capture records every frame crossing the eth0 of some nodes, from
// sockets of its own (AF_PACKET, like tcpdump's, without a tcpdump).
type Capture struct {
	lab    *Lab
	token  string
	taps   []*tap
	stopMu sync.Mutex
	result *WireEvidence
	err    error
}

type tap struct {
	node    *Node
	fd      int
	ifindex int
	mac     net.HardwareAddr
	expect  map[string]bool // end markers still awaited, by the sending node
	stop    chan struct{}   // closed by Stop
	done    chan struct{}   // closed when the reader has finished
	frames  []frame
	trunc   int
	err     error
	token   string // this capture's, in its end markers
}

type frame struct {
	node     string
	outgoing bool
	data     []byte
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
	markerPrefix = "scenario-capture-end:"
)

// Capture starts capturing on the eth0 of the named nodes (all of them if
// none is named). Stop it to get the evidence.
func (l *Lab) Capture(nodes ...string) (*Capture, error) {
	if len(nodes) == 0 {
		for _, n := range l.Nodes() {
			nodes = append(nodes, n.name)
		}
	}
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	c := &Capture{lab: l, token: hex.EncodeToString(token)}
	seen := map[string]bool{}
	for _, name := range nodes {
		n, ok := l.Node(name)
		if !ok {
			c.closeAll()
			return nil, fmt.Errorf("capturing: no node %q in this lab", name)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		t, err := openTap(n)
		if err != nil {
			c.closeAll()
			return nil, err
		}
		t.token = c.token
		c.taps = append(c.taps, t)
	}
	for _, t := range c.taps {
		go t.read()
	}
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openTap opens a packet socket inside n, bound to its eth0. It is made
// with protocol 0, which receives nothing, and only then bound to
// ETH_P_ALL on eth0: a socket made with ETH_P_ALL would receive from
// every interface (lo included) until bound.
func openTap(n *Node) (*tap, error) {
	t := &tap{node: n, fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	err := n.Do(func() error {
		eth, err := net.InterfaceByName(nodeLink)
		if err != nil {
			return err
		}
		t.ifindex, t.mac = eth.Index, eth.HardwareAddr
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
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: t.ifindex}); err != nil {
			return fmt.Errorf("binding a packet socket to %s: %w", nodeLink, err)
		}
		return nil
	})
	if err != nil {
		if t.fd >= 0 {
			unix.Close(t.fd)
		}
		return nil, fmt.Errorf("capturing on node %s: %w", n.name, err)
	}
	return t, nil
}

func (c *Capture) closeAll() {
	for _, t := range c.taps {
		unix.Close(t.fd)
	}
}

func (t *tap) read() {
	defer close(t.done)
	buf := make([]byte, frameMax)
	var stopAt time.Time
	stopping := false
	for {
		if !stopping {
			select {
			case <-t.stop:
				stopping, stopAt = true, time.Now()
			default:
			}
		}
		n, from, err := unix.Recvfrom(t.fd, buf, unix.MSG_TRUNC)
		switch {
		case err == nil:
			if n > len(buf) {
				t.trunc++
				n = len(buf)
			}
			outgoing := false
			if ll, ok := from.(*unix.SockaddrLinklayer); ok {
				outgoing = ll.Pkttype == unix.PACKET_OUTGOING
			}
			if sender, ok := t.marker(buf[:n]); ok {
				// Markers are sent only after Stop closed t.stop, which
				// also published t.expect.
				if !stopping {
					<-t.stop
					stopping, stopAt = true, time.Now()
				}
				delete(t.expect, sender)
				continue
			}
			t.frames = append(t.frames, frame{node: t.node.name, outgoing: outgoing, data: append([]byte(nil), buf[:n]...)})
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

// marker recognizes an end marker of this capture and names its sender.
func (t *tap) marker(f []byte) (string, bool) {
	if len(f) < 14 || binary.BigEndian.Uint16(f[12:14]) != markerType {
		return "", false
	}
	token, sender, ok := strings.Cut(string(f[14:]), " ")
	if !ok || token != markerPrefix+t.token {
		return "", false
	}
	return strings.TrimRight(sender, "\x00"), true
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
	// if both ends are connected; its own goes out on the socket's own
	// interface, which does not show a socket its own frames.
	connected := map[string]bool{}
	for _, t := range c.taps {
		connected[t.node.name] = !t.node.isDisconnected()
	}
	for _, t := range c.taps {
		t.expect = map[string]bool{}
		if !connected[t.node.name] {
			continue
		}
		for _, o := range c.taps {
			if o != t && connected[o.node.name] {
				t.expect[o.node.name] = true
			}
		}
	}
	for _, t := range c.taps {
		close(t.stop)
	}
	var errs []error
	for _, t := range c.taps {
		if !connected[t.node.name] {
			continue // its cable is cut: nobody would see the marker
		}
		if err := t.sendMarker(c.token); err != nil {
			errs = append(errs, err)
		}
	}
	ev := newEvidence(c.lab)
	for _, t := range c.taps {
		<-t.done
		if stats, err := unix.GetsockoptTpacketStats(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			ev.Dropped += int(stats.Drops)
		}
		unix.Close(t.fd)
		if t.err != nil {
			errs = append(errs, t.err)
		}
		for sender := range t.expect {
			ev.Incomplete = append(ev.Incomplete, fmt.Sprintf("node %s never saw node %s's end marker: frames still in flight to it may be missing", t.node.name, sender))
		}
		ev.Truncated += t.trunc
		for _, f := range t.frames {
			ev.add(f)
		}
	}
	ev.finish()
	c.result, c.err = ev, errors.Join(errs...)
	return c.result, c.err
}

// sendMarker sends this capture's end marker, a broadcast frame, out of
// the node's eth0.
func (t *tap) sendMarker(token string) error {
	payload := markerPrefix + token + " " + t.node.name
	f := make([]byte, 14, 14+len(payload)+46)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], t.mac) // a bridge drops a frame from an invalid (zero) address
	binary.BigEndian.PutUint16(f[12:14], markerType)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	addr := &unix.SockaddrLinklayer{Protocol: htons(markerType), Ifindex: t.ifindex, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(t.fd, f, 0, addr); err != nil {
		return fmt.Errorf("sending the capture's end marker from node %s: %w", t.node.name, err)
	}
	return nil
}
