package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/flows"
)

// Subnet is the network every lab's nodes share. Every run uses the same
// one: each run's bridge lives in a namespace of its own, so two runs'
// nodes never meet.
var Subnet = netip.MustParsePrefix("10.77.0.0/24")

// MaxNodes is how many nodes one lab can have: .1 to .254 of Subnet.
const MaxNodes = 254

const (
	bridgeSuffix = "br"
	bridgeName   = "br0" // the bridge, inside the bridge namespace
	nodeLink     = flows.NodeLink
)

var nodeNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidNodeName says whether name can be a node's: it becomes part of a
// namespace's file name, so letters, digits, '.', '_' and '-' only, and it
// must not be the bridge's ("br").
func ValidNodeName(name string) error {
	if !nodeNamePattern.MatchString(name) {
		return fmt.Errorf("node name %q: use letters, digits, '.', '_' and '-' (starting with a letter or digit)", name)
	}
	if name == bridgeSuffix {
		return fmt.Errorf("node name %q is reserved for the run's bridge; choose another", name)
	}
	if len(name) > 64 {
		return fmt.Errorf("node name %q is longer than 64 characters", name)
	}
	return nil
}

// Registrar hears of every namespace a lab creates or removes, by name,
// so that something outliving the lab's process (the reaper) can remove
// them if the process dies. WatchNetns is called before the namespace is
// created and UnwatchNetns after it is removed, so there is no instant in
// which a namespace exists unregistered. *reaper.Reaper implements it.
type Registrar interface {
	WatchNetns(name string)
	UnwatchNetns(name string)
}

// Option changes how New builds a lab.
type Option func(*Lab)

// WithRegistrar makes the lab tell r of every namespace it creates and
// removes.
func WithRegistrar(r Registrar) Option { return func(l *Lab) { l.registrar = r } }

// Lab is one run's private network: a bridge namespace and one namespace
// per node.
type Lab struct {
	prefix    string
	registrar Registrar

	// mu guards the lab's lists and closed; a hop into one of its
	// namespaces holds it for reading while it enters, so that Close,
	// which closes the handles, never has one entered through a closed
	// (and maybe reused) descriptor.
	mu       sync.RWMutex
	closed   bool
	bridgeNS string
	bridge   netns.NsHandle
	brLink   *netlink.Handle // netlink socket inside the bridge namespace
	nodes    []*Node
	byName   map[string]*Node
	named    []string // namespace names this lab created, in order
}

// Node is one machine of the lab: a network namespace with lo and eth0,
// eth0 cabled to the lab's bridge.
type Node struct {
	lab       *Lab
	name      string
	ns        string
	handle    netns.NsHandle
	addr      netip.Addr
	port      string // the bridge's end of this node's cable
	portIndex int    // its ifindex in the bridge namespace

	mu            sync.Mutex
	lossSet       bool
	bwSet         bool
	disconnected  bool
	sendersTagged bool // the agents' and proxies' frames are marked (Capture)
}

// New builds a lab: a namespace prefix+"-br" holding a bridge, and for
// each node a namespace prefix+"-"+node whose eth0 is cabled to the bridge,
// with address 10.77.0.(i+1)/24 for the i-th node, and lo up. prefix must
// be unique to the run (e.g. "sc-<pid>-<random>"): namespace names are
// machine-wide. On error, whatever was made is removed.
func New(prefix string, nodes []string, opts ...Option) (*Lab, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("a lab needs at least one node")
	}
	if len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%d nodes: a lab has room for %d", len(nodes), MaxNodes)
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if err := ValidNodeName(n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("node %q is named twice", n)
		}
		seen[n] = true
	}
	l := &Lab{prefix: prefix, byName: map[string]*Node{}, bridge: netns.None()}
	for _, o := range opts {
		o(l)
	}
	if err := l.build(nodes); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = fmt.Errorf("%w (and undoing it: %v)", err, cerr)
		}
		return nil, err
	}
	return l, nil
}

func validatePrefix(prefix string) error {
	if !nodeNamePattern.MatchString(prefix) {
		return fmt.Errorf("namespace prefix %q: use letters, digits, '.', '_' and '-'", prefix)
	}
	return nil
}

func (l *Lab) build(nodes []string) error {
	var err error
	l.bridgeNS = l.prefix + "-" + bridgeSuffix
	if l.bridge, err = l.createNamespace(l.bridgeNS); err != nil {
		return err
	}
	err = l.inBridge(func() (err error) { l.brLink, err = netlink.NewHandle(unix.NETLINK_ROUTE); return err })
	if err != nil {
		return fmt.Errorf("netlink in namespace %s: %w", l.bridgeNS, err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	if err := l.brLink.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s in namespace %s: %w", bridgeName, l.bridgeNS, err)
	}
	if err := l.brLink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bringing up bridge %s in namespace %s: %w", bridgeName, l.bridgeNS, err)
	}
	brIndex := br.Attrs().Index
	if brIndex == 0 {
		link, err := l.brLink.LinkByName(bridgeName)
		if err != nil {
			return fmt.Errorf("finding bridge %s in namespace %s: %w", bridgeName, l.bridgeNS, err)
		}
		brIndex = link.Attrs().Index
	}
	base := Subnet.Addr().As4()
	for i, name := range nodes {
		base[3] = byte(i + 1)
		n := &Node{lab: l, name: name, ns: l.prefix + "-" + name, addr: netip.AddrFrom4(base),
			port: "p" + strconv.Itoa(i+1), handle: netns.None()}
		if err := l.addNode(n, brIndex); err != nil {
			return err
		}
	}
	return l.waitForwarding(l.nodes)
}

func (l *Lab) createNamespace(name string) (netns.NsHandle, error) {
	if l.registrar != nil {
		l.registrar.WatchNetns(name)
	}
	h, err := createNamed(name)
	if err != nil {
		if l.registrar != nil {
			l.registrar.UnwatchNetns(name)
		}
		return h, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	l.mu.Lock()
	l.named = append(l.named, name)
	l.mu.Unlock()
	return h, nil
}

func (l *Lab) addNode(n *Node, brIndex int) (err error) {
	if n.handle, err = l.createNamespace(n.ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.nodes = append(l.nodes, n)
	l.byName[n.name] = n
	l.mu.Unlock()
	h, err := n.netlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	// The cable: eth0 in the node, its peer straight in the bridge's
	// namespace, so nothing ever appears in the host's namespace.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nodeLink}, PeerName: n.port,
		PeerNamespace: netlink.NsFd(int(l.bridge))}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating the cable of node %s (veth %s in %s, peer %s in %s): %w", n.name, nodeLink, n.ns, n.port, l.bridgeNS, err)
	}
	port, err := l.brLink.LinkByName(n.port)
	if err != nil {
		return fmt.Errorf("finding %s in namespace %s: %w", n.port, l.bridgeNS, err)
	}
	if err := l.brLink.LinkSetMasterByIndex(port, brIndex); err != nil {
		return fmt.Errorf("attaching %s to bridge %s in namespace %s: %w", n.port, bridgeName, l.bridgeNS, err)
	}
	if err := l.brLink.LinkSetUp(port); err != nil {
		return fmt.Errorf("bringing up %s in namespace %s: %w", n.port, l.bridgeNS, err)
	}
	n.portIndex = port.Attrs().Index
	eth, err := h.LinkByName(nodeLink)
	if err != nil {
		return fmt.Errorf("finding %s in namespace %s: %w", nodeLink, n.ns, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.addr.AsSlice(), Mask: net.CIDRMask(Subnet.Bits(), 32)}}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("adding %s to %s in namespace %s: %w", addr.IPNet, nodeLink, n.ns, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bringing up %s in namespace %s: %w", nodeLink, n.ns, err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo in namespace %s: %w", n.ns, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bringing up lo in namespace %s: %w", n.ns, err)
	}
	return nil
}

// Node returns the node called name.
func (l *Lab) Node(name string) (*Node, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n, ok := l.byName[name]
	return n, ok
}

// Nodes returns the nodes in the order New was given them.
func (l *Lab) Nodes() []*Node {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]*Node(nil), l.nodes...)
}

// BridgeNamespace is the name of the namespace holding the bridge (for
// messages: `ip netns exec NAME ...`).
func (l *Lab) BridgeNamespace() string { return l.bridgeNS }

// Close removes every namespace the lab created, and with them every link
// (a namespace's links end with it, and each cable's bridge end lives in
// the bridge namespace, which never holds a process). It removes nothing
// else, and a second call does nothing. Stop the processes started in the
// nodes first: a namespace with a process in it lives on, nameless, until
// that process ends (cut off: its cable went with the bridge namespace).
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	// Our own handles and sockets hold the namespaces too: close them first.
	if l.brLink != nil {
		l.brLink.Close()
	}
	if l.bridge.IsOpen() {
		l.bridge.Close()
	}
	for _, n := range l.nodes {
		if n.handle.IsOpen() {
			n.handle.Close()
		}
	}
	var errs []error
	// The bridge first: its end cuts every cable at once.
	for i := len(l.named) - 1; i >= 0; i-- {
		name := l.named[i]
		if name != l.bridgeNS {
			continue
		}
		errs = append(errs, l.removeNamespace(name))
	}
	for _, name := range l.named {
		if name != l.bridgeNS {
			errs = append(errs, l.removeNamespace(name))
		}
	}
	return errors.Join(errs...)
}

func (l *Lab) removeNamespace(name string) error {
	if err := deleteNamed(name); err != nil {
		return err
	}
	if l.registrar != nil {
		l.registrar.UnwatchNetns(name)
	}
	return nil
}

// open fails once the lab is closed: the node's handle is gone.
func (n *Node) open() error {
	n.lab.mu.RLock()
	defer n.lab.mu.RUnlock()
	if n.lab.closed {
		return fmt.Errorf("node %s: the lab is closed", n.name)
	}
	return nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// Addr is the node's eth0 address.
func (n *Node) Addr() netip.Addr { return n.addr }

// Namespace is the node's network namespace name (for messages: `ip netns
// exec NAME ...`).
func (n *Node) Namespace() string { return n.ns }

// Do runs fn on a locked OS thread inside the node's namespace, then
// returns the thread to where it was. What fn creates there stays there:
// sockets, and children that fn starts (exec.Cmd.Start forks from the
// calling thread, so the child is born in the node). fn runs on a
// goroutine of its own: goroutines it starts run elsewhere, in the host's
// namespace. A child with SysProcAttr.Pdeathsig would get its signal if
// the thread that forked it ended, which happens only if returning to the
// original namespace failed. A panic in fn is raised again in the caller.
func (n *Node) Do(fn func() error) error {
	return onOwnThread(func() error {
		if err := n.lab.enter(n.handle, n); err != nil {
			return err
		}
		return fn()
	})
}

// enter moves the calling thread, locked to its goroutine, into the
// namespace target of node n (nil: the bridge's), unless the lab is
// closed.
func (l *Lab) enter(target netns.NsHandle, n *Node) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		if n == nil {
			return fmt.Errorf("lab %s: the lab is closed", l.prefix)
		}
		return fmt.Errorf("node %s: the lab is closed", n.name)
	}
	if err := unix.Setns(int(target), unix.CLONE_NEWNET); err != nil {
		if n == nil {
			return fmt.Errorf("entering network namespace %s: setns: %w", l.bridgeNS, err)
		}
		return fmt.Errorf("entering network namespace %s of node %s: setns: %w", n.ns, n.name, err)
	}
	return nil
}

// netlinkHandle opens a netlink (route) handle inside the node: a netlink socket
// belongs to the namespace it is made in.
func (n *Node) netlinkHandle() (*netlink.Handle, error) {
	var h *netlink.Handle
	err := n.Do(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink in namespace %s: %w", n.ns, err)
	}
	return h, nil
}

// inBridge runs fn on a thread inside the bridge's namespace, as Do does
// in a node's.
func (l *Lab) inBridge(fn func() error) error {
	return onOwnThread(func() error {
		if err := l.enter(l.bridge, nil); err != nil {
			return err
		}
		return fn()
	})
}

// DialContext connects to addr from inside the node: the socket is made
// in the node's namespace. addr's host must be an IP address or
// "localhost" (name lookups would run outside the node). It fits
// http.Transport.DialContext.
//
// Only the socket is made on a thread inside the node. A socket belongs
// to the namespace it was made in for its whole life: connecting it, and
// every read and write after, go by the socket, not by the thread. So the
// dial itself runs on the caller's goroutine, as on the host. (A dial on a
// thread locked inside the node waits for its answer parked on that
// thread, and Go hands the processor between threads twice to wake it:
// about 70 µs a dial on the project's machine.)
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	addr, err := literalAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s from node %s: %w", addr, n.name, err)
	}
	// No fallback racing: one socket per dial is all a literal address
	// needs.
	d := net.Dialer{FallbackDelay: -1, ControlContext: n.socketInside}
	return d.DialContext(ctx, network, addr)
}

// socketInside, as a net.Dialer's ControlContext, replaces the socket the
// dialer has just made (in the caller's namespace, not yet bound,
// connected or polled) by one of the same kind made inside the node,
// under the same descriptor, with the options Go set on its own.
func (n *Node) socketInside(_ context.Context, _, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = n.replaceSocket(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

func (n *Node) replaceSocket(fd int) error {
	var opts [3]int
	for i, opt := range []int{unix.SO_DOMAIN, unix.SO_TYPE, unix.SO_PROTOCOL} {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		if err != nil {
			return fmt.Errorf("reading the socket's kind: %w", err)
		}
		opts[i] = v
	}
	domain, typ, proto := opts[0], opts[1], opts[2]
	inside := -1
	err := n.Do(func() (err error) {
		inside, err = unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return fmt.Errorf("making a socket in node %s: %w", n.name, err)
	}
	defer unix.Close(inside)
	// What Go sets before handing its socket over (setDefaultSockopts).
	if domain == unix.AF_INET6 && typ != unix.SOCK_RAW {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err == nil {
			err = unix.SetsockoptInt(inside, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
		}
		if err != nil {
			return fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
	}
	if typ == unix.SOCK_DGRAM || typ == unix.SOCK_RAW {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST)
		if err == nil {
			err = unix.SetsockoptInt(inside, unix.SOL_SOCKET, unix.SO_BROADCAST, v)
		}
		if err != nil {
			return fmt.Errorf("SO_BROADCAST: %w", err)
		}
	}
	if err := unix.Dup3(inside, fd, unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("putting node %s's socket in place: %w", n.name, err)
	}
	return nil
}

// Listen listens on addr inside the node (host: an IP address, "localhost"
// or empty). Connections it accepts are the node's.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	addr, err := literalAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s in node %s: %w", addr, n.name, err)
	}
	var ln net.Listener
	err = n.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

func literalAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, err
	}
	switch {
	case host == "" || host == "localhost":
		if host == "localhost" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port), nil
	case net.ParseIP(host) != nil:
		return addr, nil
	}
	return addr, fmt.Errorf("host %q is not an IP address (resolve it first)", host)
}
