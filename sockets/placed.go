package sockets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/proc"
)

// A socket belongs to the network namespace it was made in, not to the
// one its holder is in now: a process can bind 0.0.0.0 in one namespace
// and then leave it (unshare, setns, a thread of its own), and the socket
// listens on there. The kernel tells a socket's namespace to whoever
// holds it (SIOCGSKNS); a copy of another process's descriptor is had
// with pidfd_getfd(2), which needs the right to ptrace it (root has it).

// holdings are the sockets a family of processes holds, each placed in
// the network namespace it was made in when the kernel tells.
type holdings struct {
	// inodes are every socket the processes hold.
	inodes map[string]bool
	// made are the namespaces the placed sockets were made in, each with
	// a descriptor to enter it by.
	made []madeIn
	// unplaced are the sockets whose namespace the kernel would not tell,
	// each with a process that holds it; why says what it answered.
	unplaced map[string]int
	why      error
}

type madeIn struct {
	ns   Namespace
	file *os.File
}

func (h *holdings) close() {
	for _, m := range h.made {
		m.file.Close()
	}
}

// holdingsOf reads the sockets pids hold and places each.
func holdingsOf(pids []int) *holdings {
	h := &holdings{inodes: map[string]bool{}, unplaced: map[string]int{}}
	dev, ok := sockfsDev()
	if !ok {
		// No sockfs to tell sockets by: every socket is unplaced.
		h.why = errors.New("the socket file system could not be found")
		for _, pid := range pids {
			for _, inode := range socketInodes(pid) {
				h.inodes[inode] = true
				h.unplaced[inode] = pid
			}
		}
		return h
	}
	for _, pid := range pids {
		h.read(pid, dev)
	}
	return h
}

// read places the sockets of process pid.
func (h *holdings) read(pid int, dev uint64) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // gone
	}
	f := os.NewFile(uintptr(dfd), dir)
	defer f.Close()
	fds, _ := f.Readdirnames(-1)
	if len(fds) == 0 {
		// A leader that has exited while its threads run on shows no
		// descriptors, and has none to copy: its threads' are listed,
		// unplaced, for the tables of its namespace to account for.
		for _, inode := range socketInodes(pid) {
			if !h.inodes[inode] {
				h.inodes[inode] = true
				h.unplaced[inode] = pid
				h.why = fmt.Errorf("pid %d's leader thread has exited, so its descriptors cannot be copied", pid)
			}
		}
		return
	}
	pidfd, pidfdErr := unix.PidfdOpen(pid, 0)
	if pidfdErr == nil {
		defer unix.Close(pidfd)
	}
	var st unix.Stat_t
	for _, name := range fds {
		if unix.Fstatat(dfd, name, &st, 0) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Dev != dev {
			continue
		}
		inode := strconv.FormatUint(st.Ino, 10)
		if h.inodes[inode] {
			continue // placed through another holder
		}
		h.inodes[inode] = true
		if pidfdErr != nil {
			h.unplaced[inode], h.why = pid, fmt.Errorf("pidfd_open(%d): %w", pid, pidfdErr)
			continue
		}
		fd, _ := strconv.Atoi(name)
		err := h.place(pidfd, fd, inode, dev)
		if err != nil && notHeld(pid, err) {
			// Closed, or gone with its process since the listing: the
			// socket is not this holder's any more, and another member
			// that holds it places it.
			delete(h.inodes, inode)
			continue
		}
		if err != nil {
			h.unplaced[inode], h.why = pid, fmt.Errorf("pid %d, descriptor %d: %w", pid, fd, err)
		}
	}
}

// errNotHeld: the descriptor no longer holds the socket listed there.
var errNotHeld = errors.New("the descriptor no longer holds that socket")

// notHeld says whether err, from placing a socket of process pid, means
// that pid no longer holds it: the descriptor was closed (or reused), or
// the process has wholly exited. A leader that exited while its threads
// run on holds its files through them, though the kernel will not copy
// them from it: not that (proc.LiveDir).
func notHeld(pid int, err error) bool {
	if errors.Is(err, errNotHeld) {
		return true
	}
	if !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.ESRCH) {
		return false
	}
	dir, live := proc.LiveDir(pid)
	return !live || dir == "/proc/"+strconv.Itoa(pid)
}

// place copies descriptor fd of the process of pidfd, socket inode, and
// notes the namespace it was made in.
func (h *holdings) place(pidfd, fd int, inode string, dev uint64) error {
	copied, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return fmt.Errorf("pidfd_getfd: %w", err)
	}
	defer unix.Close(copied)
	var st unix.Stat_t
	if err := unix.Fstat(copied, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Dev != dev || strconv.FormatUint(st.Ino, 10) != inode {
		// The descriptor was closed and reused meanwhile: what it is now
		// is another's business.
		return errNotHeld
	}
	nsfd, err := unix.IoctlRetInt(copied, unix.SIOCGSKNS)
	if err != nil {
		return fmt.Errorf("ioctl SIOCGSKNS: %w", err)
	}
	if err := unix.Fstat(nsfd, &st); err != nil {
		unix.Close(nsfd)
		return err
	}
	ns := Namespace{Dev: st.Dev, Ino: st.Ino}
	if slices.ContainsFunc(h.made, func(m madeIn) bool { return m.ns.Same(ns) }) {
		unix.Close(nsfd)
		return nil
	}
	h.made = append(h.made, madeIn{ns: ns, file: os.NewFile(uintptr(nsfd), "net:["+strconv.FormatUint(st.Ino, 10)+"]")})
	return nil
}

// BoundBy lists the listening TCP and bound unconnected UDP and UDP-Lite
// sockets held by pids, each in the network namespace it was made in
// (which no member may be in any more), read by entering that namespace.
// A socket whose namespace the kernel would not tell (no pidfd_getfd, no
// right to ptrace its holder) is looked for in the namespaces the
// members are in, read through a member there (/proc/PID/net/...); one
// found in none of them is an error: it may listen anywhere.
func BoundBy(pids []int) ([]Bound, error) {
	held := holdingsOf(pids)
	defer held.close()
	return boundBy(held, pids)
}

func boundBy(held *holdings, pids []int) ([]Bound, error) {
	members := Namespaces(pids)
	names := namedNamespaces()
	var out []Bound
	keep := func(found []Bound) {
		for _, b := range found {
			if held.inodes[b.Inode] {
				out = append(out, b)
			}
		}
	}
	for _, m := range held.made {
		ns := m.ns
		if i := slices.IndexFunc(members, ns.Same); i >= 0 {
			ns = members[i]
		} else {
			ns.Name = names[[2]uint64{ns.Dev, ns.Ino}]
		}
		found, err := boundEntering(m.file, ns)
		if err != nil && len(ns.Pids) > 0 {
			found, err = boundIn(ns) // through a member there
		}
		if err != nil {
			return nil, fmt.Errorf("reading the sockets of %s, where the family has a socket: %w (run scenario as root)", ns, err)
		}
		keep(found)
	}
	if len(held.unplaced) == 0 {
		return out, nil
	}
	// The unplaced are looked for in the namespaces the members are in.
	for _, ns := range members {
		if !slices.ContainsFunc(held.made, func(m madeIn) bool { return m.ns.Same(ns) }) {
			found, err := boundIn(ns)
			if err != nil {
				return nil, err
			}
			keep(found)
		}
		for inode := range socketsOf(ns) {
			delete(held.unplaced, inode)
		}
	}
	if len(held.unplaced) > 0 {
		var where []string
		for inode, pid := range held.unplaced {
			where = append(where, fmt.Sprintf("socket:[%s] of pid %d", inode, pid))
		}
		slices.Sort(where)
		return out, fmt.Errorf("the kernel would not tell the network namespace of %s (%v), and none of the namespaces its family is in has it, so whether it listens beyond loopback cannot be checked: run scenario as root on Linux 5.6 or later (pidfd_getfd, SIOCGSKNS)",
			strings.Join(where, ", "), held.why)
	}
	return out, nil
}

// boundEntering reads the bound sockets of namespace ns, entered by file.
func boundEntering(file *os.File, ns Namespace) ([]Bound, error) {
	var out []Bound
	err := inNamespace(file, ns, func() error {
		listeners, err := diagAll()
		if err != nil {
			listeners, err = tableListenersIn("/proc/thread-self/net")
		}
		if err != nil {
			return err
		}
		for _, l := range listeners {
			out = append(out, Bound{Proto: "tcp", Addr: l.Addr, Inode: l.Inode, Netns: ns})
		}
		udp, err := udpBoundIn("/proc/thread-self/net", ns)
		out = append(out, udp...)
		return err
	})
	return out, err
}

// socketTables are the /proc/PID/net tables of a namespace's sockets,
// with the column of each one's inode.
var socketTables = map[string]int{
	"tcp": 9, "tcp6": 9, "udp": 9, "udp6": 9, "udplite": 9, "udplite6": 9,
	"raw": 9, "raw6": 9, "unix": 6, "netlink": 9, "packet": 8,
}

// socketsOf lists the inodes of every socket of namespace ns that its
// tables list, read through the first of its processes still in it.
func socketsOf(ns Namespace) map[string]bool {
	for _, pid := range ns.Pids {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "net")
		inodes := map[string]bool{}
		for table, column := range socketTables {
			f, err := os.ReadFile(filepath.Join(dir, table))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(f), "\n")[1:] {
				if fields := strings.Fields(line); len(fields) > column {
					inodes[fields[column]] = true
				}
			}
		}
		if now, err := NamespaceOf(pid); err == nil && now.Same(ns) {
			return inodes
		}
	}
	return nil
}
