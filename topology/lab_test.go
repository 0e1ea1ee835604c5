package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// requirePermitted lets a test that builds a lab go on only where labs can
// be built; the full tier (make test) fails it elsewhere.
func requirePermitted(t testing.TB) {
	t.Helper()
	testenv.Need(t, testenv.Namespaces(Permitted))
}

// testPrefix is unique to the test run and the call: RunDir is machine-wide.
func testPrefix() string {
	return fmt.Sprintf("tt%d-%04x", os.Getpid(), rand.Intn(1<<16))
}

func newLab(t testing.TB, nodes ...string) *Lab {
	t.Helper()
	requirePermitted(t)
	l, err := New(testPrefix(), nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

func node(t testing.TB, l *Lab, name string) *Node {
	t.Helper()
	n, ok := l.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	return n
}

// namesWithPrefix lists RunDir's entries that start with prefix.
func namesWithPrefix(t testing.TB, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(RunDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func hostLinks(t testing.TB) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	sort.Strings(names)
	return names
}

// echoOnce accepts one connection on ln and echoes it until EOF.
func echoOnce(t testing.TB, ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func TestNodesReachEachOtherOverTheBridge(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	if a.Addr().String() != "10.77.0.1" || b.Addr().String() != "10.77.0.2" {
		t.Fatalf("addresses: a %s, b %s", a.Addr(), b.Addr())
	}
	ln, err := b.Listen("tcp", b.Addr().String()+":8181")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoOnce(t, ln)
	// A frame lost because the lab was not ready when New returned would
	// cost a 1 s retransmission (ARP or SYN): the first dial must beat it.
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", b.Addr().String()+":8181")
	if err != nil {
		t.Fatalf("the first dial right after New: %v", err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "hello over the bridge"); err != nil || got != "hello over the bridge" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	// The connection's far end is b's address: it crossed the bridge, not
	// a loopback.
	if remote := c.RemoteAddr().String(); remote != "10.77.0.2:8181" {
		t.Errorf("remote address %s", remote)
	}
	if local := c.LocalAddr().(*net.TCPAddr).IP.String(); local != "10.77.0.1" {
		t.Errorf("local address %s", local)
	}
}

// The same port is free in every node and on the host: each has its own
// port space.
func TestEachNodeHasItsOwnLoopbackAndPorts(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	port := host.Addr().(*net.TCPAddr).Port
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Nothing on the host's loopback is reachable from a node.
	if c, err := a.DialContext(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatalf("node a reached the host's %s", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialing the host's port from a node: %v (want connection refused)", err)
	}
	// The host's port number is free in the nodes, and b's loopback is
	// b's only.
	lb, err := b.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the host's port is taken in node b: %v", err)
	}
	defer lb.Close()
	if c, err := a.DialContext(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatalf("node a reached node b's loopback")
	}
	echoOnce(t, lb)
	c, err := b.DialContext(ctx, "tcp", "localhost:"+fmt.Sprint(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "loop"); err != nil || got != "loop" {
		t.Fatalf("echo on b's loopback: %q, %v", got, err)
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	requirePermitted(t)
	before := hostLinks(t)
	prefix := testPrefix()
	l, err := New(prefix, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{prefix + "-a", prefix + "-b", prefix + "-br", prefix + "-c"}
	if got := namesWithPrefix(t, prefix); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("namespaces %v, want %v", got, want)
	}
	if got := hostLinks(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("the host's links changed: %v, were %v", got, before)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := namesWithPrefix(t, prefix); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	if got := hostLinks(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("the host's links changed: %v, were %v", got, before)
	}
	if err := l.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	a, _ := l.Node("a")
	if err := a.Do(func() error { return nil }); err == nil {
		t.Errorf("Do ran after Close")
	}
}

// A New that fails half-way removes what it made, and only that: here the
// name of b's namespace is taken by a file that is not the lab's.
func TestFailedNewUndoesItself(t *testing.T) {
	requirePermitted(t)
	prefix := testPrefix()
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	taken := filepath.Join(RunDir, prefix+"-b")
	if err := os.WriteFile(taken, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(taken)
	l, err := New(prefix, []string{"a", "b", "c"})
	if err == nil {
		l.Close()
		t.Fatal("New succeeded over a taken name")
	}
	if !strings.Contains(err.Error(), prefix+"-b") || !errors.Is(err, os.ErrExist) {
		t.Errorf("error: %v", err)
	}
	if got := namesWithPrefix(t, prefix); fmt.Sprint(got) != fmt.Sprint([]string{prefix + "-b"}) {
		t.Errorf("after the failed New: %v, want only the foreign %s-b", got, prefix)
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, nodes := range [][]string{{"br"}, {"a/b"}, {""}, {"a", "a"}, {"-x"}} {
		if l, err := New(testPrefix(), nodes); err == nil {
			l.Close()
			t.Errorf("New accepted %q", nodes)
		}
	}
	if _, err := New("x/y", []string{"a"}); err == nil {
		t.Errorf("New accepted a prefix with a slash")
	}
}

func netnsInode(t testing.TB, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestChildStartedInDoRunsInTheNode(t *testing.T) {
	l := newLab(t, "a", "b")
	b := node(t, l, "b")
	cmd := exec.Command("sleep", "30")
	if err := b.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	child := netnsInode(t, fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	if want := netnsInode(t, filepath.Join(RunDir, b.Namespace())); child != want {
		t.Errorf("the child's netns inode is %d, node b's %d", child, want)
	}
	if self := netnsInode(t, "/proc/thread-self/ns/net"); child == self {
		t.Errorf("the child is in the test's namespace")
	}
	// A child started afterwards, outside Do, is back on the host.
	out, err := exec.Command("readlink", "/proc/self/ns/net").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]", netnsInode(t, "/proc/self/ns/net")); string(bytes.TrimSpace(out)) != want {
		t.Errorf("a child started after Do is in %s, want %s", out, want)
	}
}

// Many Do calls at once from many goroutines: each sees its own node, and
// no goroutine is left behind in a node's namespace.
func TestDoIsolatesConcurrentCalls(t *testing.T) {
	l := newLab(t, "a", "b", "c")
	self := netnsInode(t, "/proc/self/ns/net")
	inode := map[*Node]uint64{}
	for _, n := range l.Nodes() {
		inode[n] = netnsInode(t, filepath.Join(RunDir, n.Namespace()))
	}
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		n := l.Nodes()[i%3]
		want := inode[n]
		go func() {
			var got uint64
			err := n.Do(func() error {
				var st syscall.Stat_t
				err := syscall.Stat("/proc/thread-self/ns/net", &st)
				got = st.Ino
				return err
			})
			if err == nil && got != want {
				err = fmt.Errorf("in node %s's Do: netns %d, want %d", n.Name(), got, want)
			}
			var st syscall.Stat_t
			if serr := syscall.Stat("/proc/thread-self/ns/net", &st); err == nil && serr == nil && st.Ino != self {
				err = fmt.Errorf("after Do, this goroutine's thread is in netns %d", st.Ino)
			}
			errs <- err
		}()
	}
	for i := 0; i < 60; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if away := threadsAway(t); len(away) > 0 {
		t.Errorf("after the calls, threads away from home: %v", away)
	}
}

func TestSetupAndTeardownAreFast(t *testing.T) {
	requirePermitted(t)
	const nodes = 5
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	start := time.Now()
	l, err := New(testPrefix(), names)
	if err != nil {
		t.Fatal(err)
	}
	setup := time.Since(start)
	start = time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	teardown := time.Since(start)
	perNode := (setup + teardown) / nodes
	t.Logf("setup %v, teardown %v: %v per node", setup, teardown, perNode)
	// The target is 50 ms a node; the bound is generous for a loaded
	// 2-core machine.
	if perNode > 250*time.Millisecond {
		t.Errorf("%v per node (setup %v, teardown %v for %d nodes)", perNode, setup, teardown, nodes)
	}
}

func BenchmarkLab(b *testing.B) {
	requirePermitted(b)
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	var setup, teardown time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		l, err := New(testPrefix(), names)
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		setup += mid.Sub(start)
		teardown += time.Since(mid)
	}
	per := float64(b.N * len(names))
	b.ReportMetric(float64(setup.Microseconds())/1000/per, "setup-ms/node")
	b.ReportMetric(float64(teardown.Microseconds())/1000/per, "teardown-ms/node")
}

// The lab carries frames as soon as New returns: a frame lost to a port not
// yet forwarding would cost a 1 s retransmission (ARP or SYN). A closed
// port's reset proves the round trip without any listener set up first.
func TestLabCarriesFramesWhenNewReturns(t *testing.T) {
	requirePermitted(t)
	for i := 0; i < 5; i++ {
		l, err := New(testPrefix(), []string{"a", "b", "c"})
		if err != nil {
			t.Fatal(err)
		}
		a, c := node(t, l, "a"), node(t, l, "c")
		ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
		conn, err := a.DialContext(ctx, "tcp", c.Addr().String()+":9")
		cancel()
		if err == nil {
			conn.Close()
		}
		l.Close()
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("lab %d: dialing a closed port of the last node right after New: %v (want connection refused)", i, err)
		}
	}
}

// recorder is a Registrar that checks the order: a name is watched before
// its namespace exists and forgotten once it is gone.
type recorder struct {
	t       testing.TB
	watched map[string]bool
	log     []string
}

func (r *recorder) WatchNetns(name string) {
	if _, err := os.Stat(filepath.Join(RunDir, name)); err == nil && !strings.HasSuffix(name, "-b") {
		r.t.Errorf("%s was registered after its creation", name)
	}
	r.watched[name] = true
	r.log = append(r.log, "+"+name)
}

func (r *recorder) UnwatchNetns(name string) {
	if _, err := os.Stat(filepath.Join(RunDir, name)); err == nil && !strings.HasSuffix(name, "-b") {
		r.t.Errorf("%s was forgotten while it exists", name)
	}
	delete(r.watched, name)
	r.log = append(r.log, "-"+name)
}

func TestTheRegistrarHearsOfEveryNamespace(t *testing.T) {
	requirePermitted(t)
	rec := &recorder{t: t, watched: map[string]bool{}}
	prefix := testPrefix()
	l, err := New(prefix, []string{"a", "c"}, WithRegistrar(rec))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.watched) != 3 {
		t.Errorf("registered: %v", rec.log)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rec.watched) != 0 {
		t.Errorf("still registered after Close: %v (log %v)", rec.watched, rec.log)
	}
	// A failed New forgets what it registered, the foreign name included.
	taken := filepath.Join(RunDir, prefix+"-b")
	if err := os.WriteFile(taken, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(taken)
	if l, err := New(prefix, []string{"a", "b"}, WithRegistrar(rec)); err == nil {
		l.Close()
		t.Fatal("New succeeded over a taken name")
	}
	if len(rec.watched) != 0 {
		t.Errorf("still registered after a failed New: %v (log %v)", rec.watched, rec.log)
	}
}
