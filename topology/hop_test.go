package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDialIntoNode measures a hop into a node: a TCP dial made from
// inside the node to its own loopback, refused (no listener) and
// accepted, against the same dial on the host, and Do with nothing to do.
// Besides the wall time, cpu-ns/op is the CPU the test process spent
// (every thread: the runtime's hand-offs between threads count).
func BenchmarkDialIntoNode(b *testing.B) {
	l := newLab(b, "a")
	a := node(b, l, "a")
	ctx := context.Background()
	refused := func(b *testing.B, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			c, err := dial(ctx, "tcp", "127.0.0.1:1")
			if err == nil {
				c.Close()
				b.Fatal("a dial to port 1 was accepted")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				b.Fatal(err)
			}
		}
	}
	accepted := func(b *testing.B, listen func(network, addr string) (net.Listener, error), dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
		ln, err := listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		addr := ln.Addr().String()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			c, err := dial(ctx, "tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	}
	var host net.Dialer
	b.Run("refused", func(b *testing.B) { refused(b, a.DialContext) })
	b.Run("accepted", func(b *testing.B) { accepted(b, a.Listen, a.DialContext) })
	b.Run("host-refused", func(b *testing.B) { refused(b, host.DialContext) })
	b.Run("host-accepted", func(b *testing.B) { accepted(b, net.Listen, host.DialContext) })
	b.Run("do-nothing", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if err := a.Do(func() error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU starts counting the process's CPU time; the function it
// returns reports it per operation.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// holders lists what of this process holds network namespace ino: its
// threads in it and its descriptors of it.
func holders(t testing.TB, ino uint64) []string {
	t.Helper()
	var out []string
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc/self/task", task.Name(), "ns", "net"), &st) == nil && st.Ino == ino && st.Dev == nsfsDev(t) {
			out = append(out, "thread "+task.Name())
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc/self/fd", fd.Name()), &st) == nil && st.Ino == ino && st.Dev == nsfsDev(t) {
			out = append(out, "descriptor "+fd.Name())
		}
	}
	return out
}

// nsfsDev is the device of namespace files.
func nsfsDev(t testing.TB) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}

// homeInode is the inode of the network namespace the test's threads are in
// while no hop holds them.
func homeInode(t testing.TB) uint64 {
	t.Helper()
	return netnsInode(t, "/proc/self/ns/net")
}

// threadsAway lists the threads of this process outside the home
// namespace.
func threadsAway(t testing.TB) []string {
	t.Helper()
	home := homeInode(t)
	var out []string
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc/self/task", task.Name(), "ns", "net"), &st) == nil && st.Ino != home {
			out = append(out, fmt.Sprintf("thread %s in net:[%d]", task.Name(), st.Ino))
		}
	}
	return out
}

// Once Do returns, its thread is home again: nothing of this process stays
// in the node between calls, whatever fn did (returned, failed, panicked,
// ended its goroutine, moved the thread elsewhere).
func TestDoLeavesNoThreadInTheNode(t *testing.T) {
	l := newLab(t, "a")
	a := node(t, l, "a")
	ino := netnsInode(t, filepath.Join(RunDir, a.Namespace()))
	var tids []int
	here := func() { tids = append(tids, syscall.Gettid()) }
	calls := map[string]func() error{
		"returns": func() error { here(); return nil },
		"fails":   func() error { here(); return errors.New("failed") },
		"panics":  func() error { here(); panic("fn panicked") },
		"goexit":  func() error { here(); runtime.Goexit(); return nil },
		"moves":   func() error { here(); return syscall.Unshare(syscall.CLONE_NEWNET) },
	}
	for name, fn := range calls {
		func() {
			defer func() { _ = recover() }()
			_ = a.Do(fn)
		}()
		// The lab's handle is a descriptor of the namespace: threads only.
		if got := holders(t, ino); len(got) != 1 || !strings.HasPrefix(got[0], "descriptor ") {
			t.Errorf("after a Do whose fn %s, node a's namespace is held by %v, want only the lab's handle", name, got)
		}
		if got := threadsAway(t); len(got) > 0 {
			t.Errorf("after a Do whose fn %s, away from home: %v", name, got)
		}
	}
	// Each ran in the node, on a thread that lives on (it went home: a
	// thread that could not would have ended).
	for _, tid := range tids {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
			t.Errorf("thread %d ended: %v", tid, err)
		}
	}
}

func TestDoRaisesAPanicInTheCaller(t *testing.T) {
	l := newLab(t, "a")
	a := node(t, l, "a")
	defer func() {
		if p := recover(); p != "in the node" {
			t.Errorf("recovered %v, want fn's panic", p)
		}
	}()
	_ = a.Do(func() error { panic("in the node") })
	t.Error("Do returned after fn panicked")
}

func TestDoTellsOfAFunctionThatEndsItsGoroutine(t *testing.T) {
	l := newLab(t, "a")
	a := node(t, l, "a")
	err := a.Do(func() error { runtime.Goexit(); return nil })
	if err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Errorf("got %v, want an error naming runtime.Goexit", err)
	}
}

// A fn that blocks does not hold up another Do in the same node.
func TestABlockedDoDoesNotDelayAnother(t *testing.T) {
	l := newLab(t, "a")
	a := node(t, l, "a")
	release := make(chan struct{})
	blocked := make(chan error, 1)
	entered := make(chan struct{})
	go func() {
		blocked <- a.Do(func() error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		ln, err := a.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			var c net.Conn
			c, err = a.DialContext(ctx, "tcp", ln.Addr().String())
			if err == nil {
				c.Close()
			}
			ln.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-ctx.Done():
		t.Error("a Do waited for another that blocks")
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Error(err)
	}
}

// Close removes the namespaces for real: once it returns, no thread or
// descriptor of this process holds any of them (a thread parked inside
// would keep one alive, nameless).
func TestCloseLeavesNoThreadInTheNamespaces(t *testing.T) {
	requirePermitted(t)
	l, err := New(testPrefix(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]uint64{l.BridgeNamespace(): netnsInode(t, filepath.Join(RunDir, l.BridgeNamespace()))}
	for _, n := range l.Nodes() {
		inodes[n.Namespace()] = netnsInode(t, filepath.Join(RunDir, n.Namespace()))
		for i := 0; i < 20; i++ {
			if err := n.Do(func() error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		ln, err := n.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if got := holders(t, inodes[n.Namespace()]); len(got) != 1 {
			t.Errorf("node %s's namespace is held by %v, want its handle (and the listener, a socket, is not a descriptor of the namespace)", n.Name(), got)
		}
		ln.Close()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, ino := range inodes {
		if got := holders(t, ino); len(got) > 0 {
			t.Errorf("after Close, namespace %s (net:[%d]) is held by %v", name, ino, got)
		}
		if _, err := os.Stat(filepath.Join(RunDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close, %s: %v", name, err)
		}
	}
}

// A node's dials make their sockets in the node, whatever their family
// and type: IPv4 and IPv6 TCP reach a listener only the node's loopback
// has, and a UDP socket's source is the node's address.
func TestDialMakesItsSocketInTheNode(t *testing.T) {
	l := newLab(t, "a", "b")
	a, b := node(t, l, "a"), node(t, l, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := a.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		echoOnce(t, ln)
		c, err := a.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dialing %s from the node it listens in: %v", ln.Addr(), err)
		}
		if got, err := roundTrip(c, "inside"); err != nil || got != "inside" {
			t.Errorf("echo on %s: %q, %v", ln.Addr(), got, err)
		}
		c.Close()
		if c, err := b.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Errorf("node b reached node a's %s", ln.Addr())
		}
	}
	pc, err := b.Listen("tcp", b.Addr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
	u, err := a.DialContext(ctx, "udp", b.Addr().String()+":9")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if local := u.LocalAddr().(*net.UDPAddr).IP.String(); local != a.Addr().String() {
		t.Errorf("a UDP socket dialed from node a has source %s, want %s", local, a.Addr())
	}
}
