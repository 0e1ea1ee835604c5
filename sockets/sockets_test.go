package sockets

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/internal/testenv"
)

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1FF5":                         "127.0.0.1:8181",
		"00000000:1F90":                         "0.0.0.0:8080",
		"00000000000000000000000001000000:23E7": "[::1]:9191",
		"0000000000000000FFFF00000100007F:0050": "127.0.0.1:80",
	} {
		got, err := ParseProcAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseProcAddr(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestOnFindsOwnListenerAndHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	found, err := On(addr)
	if err != nil || len(found) != 1 {
		t.Fatalf("On(%s) = %v, %v; want one listener", addr, found, err)
	}
	wildcard := &net.TCPAddr{IP: net.IPv4zero, Port: addr.Port}
	if got, _ := On(wildcard); len(got) != 1 {
		t.Errorf("a wildcard address covers the loopback listener; got %v", got)
	}
	holders := Holders(found[0].Inode)
	if len(holders) != 1 || holders[0].PID <= 0 {
		t.Fatalf("Holders = %v; want this test process", holders)
	}
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: addr.Port}
	if got, _ := On(other); len(got) != 0 {
		t.Errorf("127.0.0.2 is not covered by a 127.0.0.1 listener; got %v", got)
	}
}

// The socket diagnostics and the /proc tables agree on every listener.
func TestDiagnosticsAgreeWithTables(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l6, err := net.Listen("tcp", "[::]:0")
	if err == nil {
		defer l6.Close()
	}
	fromDiag, err := diagAll()
	if err != nil {
		t.Fatalf("socket diagnostics: %v", err)
	}
	fromTables, err := tableListeners()
	if err != nil {
		t.Fatal(err)
	}
	key := func(ls []Listener) []string {
		// The tables cannot tell v6-only sockets; compare the rest.
		var out []string
		for _, l := range ls {
			out = append(out, l.Addr.String()+" "+l.Inode)
		}
		slices.Sort(out)
		return out
	}
	if a, b := key(fromDiag), key(fromTables); !slices.Equal(a, b) {
		t.Fatalf("socket diagnostics say\n%v\nthe tables say\n%v", a, b)
	}
	port := l.Addr().(*net.TCPAddr).Port
	found, err := On(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil || len(found) != 1 {
		t.Fatalf("On found %v, %v; want the one listener on port %d", found, err, port)
	}
}

// A v6-only wildcard listener takes no IPv4 connection, so it does not
// cover 127.0.0.1 (a dual-stack one does).
func TestV6OnlyListenerDoesNotCoverIPv4(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("an IPv6 socket: %v (this test needs IPv6, as the runner's wildcard checks do)", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet6).Port
	v4, err := On(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if len(v4) != 0 {
		t.Errorf("a v6-only [::]:%d was taken to cover 127.0.0.1: %+v", port, v4)
	}
	v6, err := On(&net.TCPAddr{IP: net.IPv6loopback, Port: port})
	if err != nil || len(v6) != 1 || !v6[0].V6Only {
		t.Errorf("[::1]:%d: %+v, %v; want the one v6-only listener", port, v6, err)
	}
}

// A bound, unconnected UDP socket counts (it takes datagrams from anyone);
// a connected one does not.
func TestUDPBoundListsUnconnectedSockets(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("udp", l.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bound, err := UDPBound()
	if err != nil {
		t.Fatal(err)
	}
	found := map[int]bool{}
	for _, b := range bound {
		found[b.Addr.Port] = true
	}
	if !found[l.LocalAddr().(*net.UDPAddr).Port] {
		t.Errorf("the bound socket %s is missing from %v", l.LocalAddr(), bound)
	}
	if found[c.LocalAddr().(*net.UDPAddr).Port] {
		t.Errorf("the connected socket %s is listed", c.LocalAddr())
	}
}

// Taking picks as the kernel does: a listener on the address itself wins
// over a wildcard one on the same port, and a dial to 0.0.0.0 goes to
// 127.0.0.1.
func TestTakingPrefersTheExactAddress(t *testing.T) {
	reuse := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	wild, err := reuse.Listen(context.Background(), "tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()
	port := wild.Addr().(*net.TCPAddr).Port
	exact, err := reuse.Listen(context.Background(), "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer exact.Close()
	for _, to := range []string{"127.0.0.1", "0.0.0.0"} {
		got, err := Taking(&net.TCPAddr{IP: net.ParseIP(to), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("Taking(%s:%d) = %v, want the 127.0.0.1 listener only", to, port, got)
		}
	}
}

// Connections sees an open connection from both of its ends, with their
// inodes and states, as the tables do; and one over IPv6.
func TestConnectionsSeesBothEnds(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		host := "127.0.0.1"
		if network == "tcp6" {
			host = "[::1]"
		}
		l, err := net.Listen(network, host+":0")
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		defer l.Close()
		c, err := net.Dial(network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conns, err := Connections()
		if err != nil {
			t.Fatal(err)
		}
		established, err := Established()
		if err != nil {
			t.Fatal(err)
		}
		for _, end := range []net.Conn{c, s} {
			local, remote := end.LocalAddr().String(), end.RemoteAddr().String()
			var inode string
			for _, cn := range conns {
				if cn.Local.String() == local && cn.Remote.String() == remote && cn.State == 1 {
					inode = cn.Inode
				}
			}
			if inode == "" || inode == "0" {
				t.Errorf("%s: no established connection %s → %s among %d", network, local, remote, len(conns))
				continue
			}
			if !slices.ContainsFunc(established, func(e Conn) bool { return e.Inode == inode }) {
				t.Errorf("%s: the tables do not have inode %s", network, inode)
			}
		}
	}
}

// BoundBy asks socket diagnostics for a namespace's TCP listeners; the
// tables it reads otherwise list the same ones.
func TestBoundByFindsTheListenersTheTablesList(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := 1
	if l6, err := net.Listen("tcp", "[::1]:0"); err == nil { // none where IPv6 is off
		defer l6.Close()
		want++
	}
	self := os.Getpid()
	bound, err := BoundBy([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	mine := Inodes([]int{self})
	var got []string
	for _, b := range bound {
		if b.Proto == "tcp" {
			got = append(got, b.Addr.String()+" "+b.Inode)
		}
	}
	dir := "/proc/" + strconv.Itoa(self) + "/net"
	ns, err := NamespaceOf(self)
	if err != nil {
		t.Fatal(err)
	}
	byDiag, err := diagListenersIn(dir, ns)
	if err != nil {
		t.Fatalf("socket diagnostics in this process's own namespace: %v", err)
	}
	byTables, err := tableListenersIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	ours := func(ls []Listener) []string {
		var out []string
		for _, l := range ls {
			if mine[l.Inode] {
				out = append(out, l.Addr.String()+" "+l.Inode)
			}
		}
		slices.Sort(out)
		return out
	}
	slices.Sort(got)
	tables := ours(byTables)
	if len(tables) != want || !slices.Equal(got, tables) || !slices.Equal(ours(byDiag), tables) {
		t.Errorf("this process's %d TCP listeners: BoundBy %v, diagnostics %v, tables %v", want, got, ours(byDiag), tables)
	}
}

// TopmostAmong finds, among the processes it is given, what Topmost finds
// among every holder: the process that opened a listener, not a child
// that inherited it.
func TestTopmostAmongAgreesWithTopmostOfEveryHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	child := exec.Command("sleep", "30")
	child.ExtraFiles = []*os.File{file} // inherits the listener
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	found, err := On(l.Addr().(*net.TCPAddr))
	if err != nil || len(found) != 1 {
		t.Fatalf("On = %v, %v", found, err)
	}
	inode := found[0].Inode
	self, kid := os.Getpid(), child.Process.Pid
	pids := func(ps []Process) []int {
		var out []int
		for _, p := range ps {
			out = append(out, p.PID)
		}
		return out
	}
	if got := pids(Topmost(Holders(inode))); !slices.Equal(got, []int{self}) {
		t.Fatalf("Topmost(Holders) = %v, want this process %d (the child %d inherited it)", got, self, kid)
	}
	for _, among := range [][]int{{self, kid}, {kid, self}, {self}} {
		if got := pids(TopmostAmong(inode, among)); !slices.Equal(got, []int{self}) {
			t.Errorf("TopmostAmong(%v) = %v, want [%d]", among, got, self)
		}
	}
	if got := TopmostAmong(inode, []int{kid}); len(got) != 0 {
		t.Errorf("TopmostAmong(the child alone) = %v: its parent holds the socket, so it is not the topmost", got)
	}
}

// A process's sockets are the socket file system's: a descriptor of a
// Unix socket's path (O_PATH), a socket file of another file system, is
// not one of them, and the two ways of reading them agree.
func TestSocketInodesAreTheSocketFileSystems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Fatalf("%s is not a socket file: %v", path, err)
	}
	self := os.Getpid()
	byStat, byLink := socketInodes(self), socketInodesByLink(self)
	if slices.Contains(byStat, strconv.FormatUint(st.Ino, 10)) {
		t.Errorf("the socket file's own inode %d is taken for a socket's", st.Ino)
	}
	slices.Sort(byStat)
	slices.Sort(byLink)
	if !slices.Equal(byStat, byLink) || len(byStat) == 0 {
		t.Errorf("by fstatat %v, by link %v", byStat, byLink)
	}
}

// A process whose leader thread has exited while another runs on shows no
// descriptors at /proc/PID/fd; its sockets are still its own: Inodes reads
// them through the live thread.
func TestInodesFindTheSocketsOfALeaderThatExitedFirst(t *testing.T) {
	testenv.Need(t, testenv.Programs("perl")...)
	cmd := exec.Command("perl", "-MIO::Socket::INET", "-Mthreads", "-MConfig", "-e", `
$s = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:0") or die "listen: $!";
$| = 1;
threads->create(sub {
	until ((do { open my $f, "<", "/proc/$$/stat"; local $/; <$f> }) =~ /\) Z /) { select(undef, undef, undef, 0.005) }
	print $s->sockport, "\n"; sleep 100;
});
syscall($Config{archname} =~ /aarch64/ ? 93 : 60, 0);
`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the perl program said nothing: %v", err)
	}
	port, _ := strconv.Atoi(strings.TrimSpace(line))
	found, err := On(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil || len(found) != 1 {
		t.Fatalf("On(127.0.0.1:%d) = %v, %v", port, found, err)
	}
	pid := cmd.Process.Pid
	if fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); len(fds) != 0 {
		t.Fatalf("/proc/%d/fd lists %d descriptors: the test proves nothing", pid, len(fds))
	}
	if !Inodes([]int{pid})[found[0].Inode] {
		t.Errorf("Inodes(%d) = %v, without its listener %s", pid, Inodes([]int{pid}), found[0].Inode)
	}
}

// A socket belongs to the network namespace it was made in, wherever its
// maker goes: a thread that makes listeners in a namespace of its own
// and comes back leaves them listening there, where no process is. BoundBy
// finds them there, in that namespace, TCP and UDP, IPv4 and IPv6.
func TestBoundByFindsSocketsInANamespaceTheirMakerLeft(t *testing.T) {
	testenv.Need(t, testenv.Root)
	fds := listenInANamespaceLeft(t)
	home, err := NamespaceOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	bound, err := BoundBy([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bound {
		if b.Netns.Same(home) {
			continue
		}
		if len(b.Netns.Pids) != 0 {
			t.Errorf("%s: the namespace lists the processes %v in it; none is", b, b.Netns.Pids)
		}
		got = append(got, b.String())
	}
	slices.Sort(got)
	want := []string{"0.0.0.0:8484"}
	if len(fds) == 2 {
		want = append(want, "udp [::]:8485")
	}
	if !slices.Equal(got, want) {
		t.Errorf("BoundBy outside this process's namespace = %v; want %v", got, want)
	}
}

// listenInANamespaceLeft makes, on a thread of this process, a network
// namespace of its own, a TCP listener on 0.0.0.0:8484 and (where there
// is IPv6) a UDP socket on [::]:8485 there, and brings the thread back:
// the sockets stay in that namespace, which no process is in. They are
// closed after the test.
func listenInANamespaceLeft(t *testing.T) []int {
	t.Helper()
	type made struct {
		fds []int
		err error
	}
	done := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- made{err: err}
			return
		}
		defer origin.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- made{err: err}
			return
		}
		var m made
		listen := func(family, typ int, sa unix.Sockaddr) {
			fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				err = unix.Bind(fd, sa)
			}
			if err == nil && typ == unix.SOCK_STREAM {
				err = unix.Listen(fd, 1)
			}
			if err != nil && family == unix.AF_INET6 {
				return // no IPv6 here
			}
			if err != nil && m.err == nil {
				m.err = err
			}
			m.fds = append(m.fds, fd)
		}
		listen(unix.AF_INET, unix.SOCK_STREAM, &unix.SockaddrInet4{Port: 8484})
		listen(unix.AF_INET6, unix.SOCK_DGRAM, &unix.SockaddrInet6{Port: 8485})
		if unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread ends with the goroutine
		} else if m.err == nil {
			m.err = errors.New("the thread could not go back to its namespace")
		}
		done <- m
	}()
	m := <-done
	t.Cleanup(func() {
		for _, fd := range m.fds {
			unix.Close(fd)
		}
	})
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m.fds
}

// Where the kernel will not tell a socket's namespace, BoundBy does not
// pass over it: a socket found in none of the namespaces the members are
// in is an error saying what to do, and one found there is judged there.
func TestBoundByFailsOnASocketItCannotPlace(t *testing.T) {
	testenv.Need(t, testenv.Root)
	self := []int{os.Getpid()}
	unplace := func(h *holdings) *holdings {
		h.close()
		h.made = nil
		for inode := range h.inodes {
			h.unplaced[inode] = os.Getpid()
		}
		h.why = errors.New("refused, as a test")
		return h
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bound, err := boundBy(unplace(holdingsOf(self)), self)
	if err != nil {
		t.Fatalf("every socket of this process is in its namespace, yet: %v", err)
	}
	if !slices.ContainsFunc(bound, func(b Bound) bool { return b.Addr.String() == l.Addr().String() }) {
		t.Errorf("BoundBy without placing = %v; want %s among them", bound, l.Addr())
	}
	listenInANamespaceLeft(t)
	_, err = boundBy(unplace(holdingsOf(self)), self)
	if err == nil || !strings.Contains(err.Error(), "cannot be checked: run scenario as root") || !strings.Contains(err.Error(), "refused, as a test") {
		t.Errorf("BoundBy with sockets it cannot place outside its namespace: %v; want it to say they cannot be checked and why", err)
	}
}

// A socket whose holder closed it, or wholly exited, since the family was
// listed is not that holder's any more: it is left to the members that
// still hold it, not taken for one the kernel would not place (which
// fails loopback-only). Any other refusal stays a refusal.
func TestAHolderThatClosedItOrEndedHoldsNoSocket(t *testing.T) {
	ended := exec.Command(os.Args[0], "-test.run=^$")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	if !notHeld(ended.Process.Pid, unix.ESRCH) || !notHeld(ended.Process.Pid, unix.EBADF) {
		t.Errorf("a process that has exited (pid %d) is taken to hold its sockets still", ended.Process.Pid)
	}
	if !notHeld(os.Getpid(), unix.EBADF) {
		t.Error("a descriptor a live process has closed is taken to hold its socket still")
	}
	if !notHeld(os.Getpid(), errNotHeld) {
		t.Error("a descriptor reused for another file is taken to hold the socket still")
	}
	if notHeld(os.Getpid(), unix.EPERM) {
		t.Error("a refusal (EPERM) is taken for a socket no longer held")
	}
}
