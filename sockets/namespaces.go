package sockets

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/internal/nsthread"
)

// Namespace is a network namespace, as a family of processes is spread
// over them.
type Namespace struct {
	Dev, Ino uint64
	// Name is its name under /run/netns (`ip netns`), when it has one.
	Name string
	// Pids are the processes of the family in it.
	Pids []int
}

func (n Namespace) String() string {
	s := fmt.Sprintf("net:[%d]", n.Ino)
	if n.Name != "" {
		s = n.Name + " (" + s + ")"
	}
	return "network namespace " + s
}

// Same says whether n and o are one namespace.
func (n Namespace) Same(o Namespace) bool { return n.Dev == o.Dev && n.Ino == o.Ino }

// Bound is a listening TCP socket or a bound, unconnected UDP (or
// UDP-Lite) socket: one that takes connections or datagrams from anyone.
type Bound struct {
	Proto string // "tcp", "udp" or "udplite"
	Addr  *net.TCPAddr
	Inode string
	Netns Namespace // where it is bound
}

func (b Bound) String() string {
	if b.Proto == "tcp" {
		return b.Addr.String()
	}
	return b.Proto + " " + b.Addr.String()
}

// NamespaceOf returns process pid's network namespace.
func NamespaceOf(pid int) (Namespace, error) {
	return namespaceAt(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"))
}

// ThisThreadsNamespace returns the calling thread's network namespace (a
// node's, inside its Do).
func ThisThreadsNamespace() (Namespace, error) {
	return namespaceAt("/proc/thread-self/ns/net")
}

func namespaceAt(path string) (Namespace, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Namespace{}, fmt.Errorf("reading the network namespace at %s: %w", path, err)
	}
	return Namespace{Dev: st.Dev, Ino: st.Ino}, nil
}

// Namespaces groups pids by the network namespace each is in, and names
// those that have a name under /run/netns. A process gone meanwhile is
// left out.
func Namespaces(pids []int) []Namespace {
	var out []Namespace
	for _, pid := range pids {
		ns, err := NamespaceOf(pid)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(out, ns.Same)
		if i < 0 {
			out = append(out, ns)
			i = len(out) - 1
		}
		out[i].Pids = append(out[i].Pids, pid)
	}
	names := namedNamespaces()
	for i := range out {
		out[i].Name = names[[2]uint64{out[i].Dev, out[i].Ino}]
	}
	return out
}

// namedNamespaces maps the namespaces bound under /run/netns to their names.
func namedNamespaces() map[[2]uint64]string {
	names := map[[2]uint64]string{}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/run/netns", e.Name()), &st) == nil {
			names[[2]uint64{st.Dev, st.Ino}] = e.Name()
		}
	}
	return names
}

// boundIn reads the socket tables of namespace ns through the first of its
// processes still running.
func boundIn(ns Namespace) ([]Bound, error) {
	var lastErr error
	for _, pid := range ns.Pids {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "net")
		found, err := boundInTables(dir, ns)
		if err == nil {
			// Still in ns? A process may move between the two reads.
			if now, err := NamespaceOf(pid); err == nil && now.Same(ns) {
				return found, nil
			}
			continue
		}
		lastErr = err
	}
	if lastErr != nil && !os.IsNotExist(lastErr) {
		return nil, fmt.Errorf("reading the sockets of %s: %w", ns, lastErr)
	}
	return nil, nil // every process of the family there has gone
}

func boundInTables(dir string, ns Namespace) ([]Bound, error) {
	var out []Bound
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	// The TCP listeners by socket diagnostics when this process may ask
	// inside ns: the tables list every TCP socket of the namespace, and
	// reading one walks the kernel's whole connection hash (milliseconds).
	listeners, err := diagListenersIn(dir, ns)
	if err != nil {
		listeners, err = tableListenersIn(dir)
	}
	if err != nil {
		return nil, err
	}
	for _, l := range listeners {
		out = append(out, Bound{Proto: "tcp", Addr: l.Addr, Inode: l.Inode, Netns: ns})
	}
	udp, err := udpBoundIn(dir, ns)
	return append(out, udp...), err
}

// udpBoundIn reads the bound, unconnected UDP and UDP-Lite sockets from
// the tables of dir, a /proc/PID/net of a process in ns.
func udpBoundIn(dir string, ns Namespace) ([]Bound, error) {
	var out []Bound
	for _, proto := range []string{"udp", "udplite"} {
		err := scanTables(func(fields []string) {
			// An unconnected socket's remote port is 0.
			if !strings.HasSuffix(fields[2], ":0000") {
				return
			}
			if addr, err := ParseProcAddr(fields[1]); err == nil {
				out = append(out, Bound{Proto: proto, Addr: addr, Inode: fields[9], Netns: ns})
			}
		}, filepath.Join(dir, proto), filepath.Join(dir, proto+"6"))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// diagListenersIn lists the listening TCP sockets of namespace ns by
// socket diagnostics, asked from inside it: a netlink socket sees the
// namespace it is made in. procDir is the /proc/PID directory's "net" of
// a process in ns; the namespace is entered through that process's
// ns/net, and only if it is still ns (inNamespace). An error means the
// caller reads the tables instead.
func diagListenersIn(procDir string, ns Namespace) ([]Listener, error) {
	target, err := os.Open(filepath.Join(filepath.Dir(procDir), "ns", "net"))
	if err != nil {
		return nil, err
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil {
		return nil, err
	}
	if !ns.Same(Namespace{Dev: st.Dev, Ino: st.Ino}) {
		return nil, fmt.Errorf("%s has left %s", procDir, ns)
	}
	var listeners []Listener
	err = inNamespace(target, ns, func() (err error) { listeners, err = diagAll(); return err })
	return listeners, err
}

// inNamespace calls fn on a thread in network namespace ns, entered by
// target (a descriptor of ns). If ns is the process's own (home), fn runs
// on a goroutine of its own, without privilege; otherwise on a thread
// moved there and back (setns, which needs CAP_SYS_ADMIN), which ends if
// it cannot be moved back (see nsthread.OnOwnThread).
func inNamespace(target *os.File, ns Namespace, fn func() error) error {
	if home, err := nsthread.IsHome(ns.Dev, ns.Ino); err == nil && home {
		return nsthread.AtHome(fn)
	}
	return nsthread.OnOwnThread(func() error {
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering %s: %w", ns, err)
		}
		return fn()
	})
}

// tableListenersIn reads the listening TCP sockets from the tables of
// dir, a /proc/PID/net.
func tableListenersIn(dir string) ([]Listener, error) {
	var out []Listener
	err := scanTables(func(fields []string) {
		const listen = "0A"
		if fields[3] != listen {
			return
		}
		if addr, err := ParseProcAddr(fields[1]); err == nil {
			out = append(out, Listener{Addr: addr, Inode: fields[9]})
		}
	}, filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6"))
	return out, err
}
