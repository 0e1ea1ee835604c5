// Package sockets answers "who listens here?" from the kernel: the
// listening TCP sockets of the current network namespace (socket
// diagnostics, or /proc/net/tcp), those a family of processes holds, each
// in the namespace it was made in (BoundBy), and the processes that hold them
// (/proc). Readiness is judged by ownership, not by "the port accepts
// TCP": a stale or foreign listener on a port accepts TCP just as well.
package sockets

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/proc"
)

// Listener is a listening TCP socket.
type Listener struct {
	Addr  *net.TCPAddr
	Inode string
	// V6Only: an IPv6 socket that takes no IPv4 connection (IPV6_V6ONLY;
	// known from socket diagnostics only).
	V6Only bool
}

// Covers reports whether a connection to want would reach l: the same
// port, and the same address or l bound to a wildcard (an IPv6 one only
// for IPv4 when it is not v6-only).
func (l Listener) Covers(want *net.TCPAddr) bool {
	if l.Addr.Port != want.Port {
		return false
	}
	if l.V6Only && want.IP.To4() != nil {
		return false
	}
	return l.Addr.IP.IsUnspecified() || want.IP.IsUnspecified() || l.Addr.IP.Equal(want.IP)
}

// Listeners lists the listening TCP sockets (IPv4 and IPv6) of the network
// namespace the calling thread is in: /proc/thread-self/net, not
// /proc/net, which shows the main thread's. A caller that has locked its
// thread into a node's namespace thus sees that node's listeners.
func Listeners() ([]Listener, error) {
	if out, err := diagAll(); err == nil {
		return out, nil
	}
	// No socket diagnostics here (a kernel without inet_diag): the tables.
	return tableListeners()
}

// diagAll lists the listeners of both families by socket diagnostics; a
// family the kernel does not have (IPv6 disabled) has none.
func diagAll() ([]Listener, error) {
	return bothFamilies(diagListeners)
}

// bothFamilies lists by socket diagnostics in IPv4 and IPv6; a family the
// kernel does not have (IPv6 disabled) has none.
func bothFamilies[T any](list func(family uint8) ([]T, error)) ([]T, error) {
	var out []T
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		found, err := list(family)
		if family == unix.AF_INET6 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EAFNOSUPPORT)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// tableListeners reads /proc/thread-self/net/tcp and tcp6.
func tableListeners() ([]Listener, error) {
	var out []Listener
	for _, table := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
		found, err := readTable(table)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// On lists the listening sockets that a connection to addr would reach.
func On(addr *net.TCPAddr) ([]Listener, error) {
	all, err := Listeners()
	if err != nil {
		return nil, err
	}
	var out []Listener
	for _, l := range all {
		if l.Covers(addr) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Taking lists the listening sockets that take a connection to addr, as
// the kernel picks them: a dial to an unspecified address goes to
// loopback; a listener bound to the address itself wins over wildcard
// ones (which then take nothing); several at one level (SO_REUSEPORT)
// share the connections, so each takes some.
func Taking(addr *net.TCPAddr) ([]Listener, error) {
	dial := *addr
	if dial.IP.IsUnspecified() {
		dial.IP = net.IPv4(127, 0, 0, 1)
		if addr.IP.To4() == nil {
			dial.IP = net.IPv6loopback
		}
	}
	covering, err := On(&dial)
	if err != nil {
		return nil, err
	}
	var exact, wildcard []Listener
	for _, l := range covering {
		if l.Addr.IP.Equal(dial.IP) {
			exact = append(exact, l)
		} else {
			wildcard = append(wildcard, l)
		}
	}
	if len(exact) > 0 {
		return exact, nil
	}
	return wildcard, nil
}

// readTable reads a /proc/net/tcp table: "sl local rem st ... inode".
func readTable(path string) ([]Listener, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Listener
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		const listen = "0A"
		if len(fields) < 10 || fields[3] != listen {
			continue
		}
		if addr, err := ParseProcAddr(fields[1]); err == nil {
			out = append(out, Listener{Addr: addr, Inode: fields[9]})
		}
	}
	return out, sc.Err()
}

// ParseProcAddr decodes "0100007F:1F90": an address in host byte order,
// 32-bit words at a time, and a big-endian hex port.
func ParseProcAddr(s string) (*net.TCPAddr, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return nil, err
	}
	ip := net.IP(raw)
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

// Inodes returns the socket inodes open in the given processes.
func Inodes(pids []int) map[string]bool {
	inodes := map[string]bool{}
	for _, pid := range pids {
		for _, inode := range socketInodes(pid) {
			inodes[inode] = true
		}
	}
	return inodes
}

// socketInodes lists the inodes of the sockets process pid has open. It
// runs over every process's descriptors (Holders), so it asks each
// descriptor's inode with one fstatat, relative to the open fd folder: a
// socket's is the number its link names ("socket:[N]"), with no link
// text to make and parse. Only the socket file system's inodes count: a
// descriptor of a Unix socket's path (O_PATH) is a socket too, of another
// file system, whose inode numbers are not sockets'.
func socketInodes(pid int) []string {
	dev, ok := sockfsDev()
	if !ok {
		return socketInodesByLink(pid)
	}
	inodes, fds := socketInodesIn("/proc/"+strconv.Itoa(pid)+"/fd", dev)
	if fds == 0 {
		// A leader thread that has exited while others run on shows no
		// descriptors (nor does a kernel thread); those threads show the
		// process's.
		if dir, ok := proc.LiveDir(pid); ok && dir != "/proc/"+strconv.Itoa(pid) {
			inodes, _ = socketInodesIn(dir+"/fd", dev)
		}
	}
	return inodes
}

// descriptorInodes is socketInodes from /proc/PID/fd alone.
func descriptorInodes(pid int) []string {
	dev, ok := sockfsDev()
	if !ok {
		return socketInodesByLink(pid)
	}
	inodes, _ := socketInodesIn("/proc/"+strconv.Itoa(pid)+"/fd", dev)
	return inodes
}

// socketInodesIn lists the socket inodes among the descriptors of fd
// folder dir whose device is sockfs's dev, and how many descriptors
// there are.
func socketInodesIn(dir string, dev uint64) ([]string, int) {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0
	}
	f := os.NewFile(uintptr(dfd), dir)
	defer f.Close()
	fds, _ := f.Readdirnames(-1)
	var out []string
	var st unix.Stat_t
	for _, fd := range fds {
		if unix.Fstatat(dfd, fd, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK && st.Dev == dev {
			out = append(out, strconv.FormatUint(st.Ino, 10))
		}
	}
	return out, len(fds)
}

// sockfsDev is the device of the socket file system, which every socket
// descriptor's inode is on: a socket of this process's own says it.
var sockfsDev = sync.OnceValues(func() (uint64, bool) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0, false
	}
	return st.Dev, true
})

// socketInodesByLink is socketInodes from each descriptor's link.
func socketInodesByLink(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	fds, _ := f.Readdirnames(-1)
	f.Close()
	var out []string
	for _, fd := range fds {
		link, err := os.Readlink(dir + fd)
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			out = append(out, strings.TrimSuffix(inode, "]"))
		}
	}
	return out
}

// Process describes a process that holds a socket.
type Process struct {
	PID     int
	PPID    int
	PGID    int
	Command string // its command line, arguments joined by spaces
}

func (p Process) String() string {
	if p.PID < 0 {
		return p.Command
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Command)
}

// Holders finds the processes that have the socket with inode open. It
// scans every process this user may inspect; a socket held only by
// processes it may not (another user's, as non-root) has no holders.
func Holders(inode string) []Process {
	entries, _ := os.ReadDir("/proc")
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Each process's own descriptors only: the look through a live
		// thread of a leader that has exited (socketInodes) would cost a
		// stat of every kernel thread, and the family's own sockets are
		// read that way (Inodes).
		for _, in := range descriptorInodes(pid) {
			if in == inode {
				out = append(out, Describe(pid))
				break
			}
		}
	}
	return out
}

// Describe reads a process's group and command line from /proc.
func Describe(pid int) Process {
	p := Process{PID: pid, PPID: -1, PGID: -1}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 2 {
			p.PPID, _ = strconv.Atoi(fields[1])
			p.PGID, _ = strconv.Atoi(fields[2])
		}
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		p.Command = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	if p.Command == "" {
		p.Command = "command line unknown"
	}
	return p
}

// DescribeHolders says in words who holds the socket with inode.
func DescribeHolders(inode string) string {
	holders := Holders(inode)
	if len(holders) == 0 {
		return "a process this user cannot inspect (run as root to name it)"
	}
	parts := make([]string, len(holders))
	for i, h := range holders {
		parts[i] = h.String()
	}
	return strings.Join(parts, ", ")
}

// Topmost keeps, of the processes holding one socket, those whose parent
// does not hold it too: the process that opened a listener, not the
// children it forked for each connection (socat's fork), which inherit it
// and come and go.
func Topmost(holders []Process) []Process {
	held := map[int]bool{}
	for _, h := range holders {
		held[h.PID] = true
	}
	var out []Process
	for _, h := range holders {
		if !held[h.PPID] {
			out = append(out, h)
		}
	}
	return out
}

// TopmostAmong is Topmost(Holders(inode)) restricted to pids: those of
// pids that hold the socket and whose parent does not. Only pids' and
// their parents' descriptors are looked at, not every process's.
func TopmostAmong(inode string, pids []int) []Process {
	var out []Process
	for _, pid := range pids {
		if !slices.Contains(socketInodes(pid), inode) {
			continue
		}
		h := Describe(pid)
		if h.PPID > 0 && slices.Contains(socketInodes(h.PPID), inode) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// Conn is a TCP connection of the calling thread's network namespace.
type Conn struct {
	Local, Remote *net.TCPAddr
	Inode         string
	// State is the TCP state (1 established, 2 SYN sent, ...; see
	// include/net/tcp_states.h); 0 when not read.
	State int
}

// Connections lists the TCP sockets of the calling thread's network
// namespace that have a peer, in any state but listening (a connection
// still being made, open, or closing), IPv4 and IPv6, from socket
// diagnostics: tens of microseconds, where Established parses tables.
func Connections() ([]Conn, error) {
	return bothFamilies(diagConns)
}

// Established lists the established TCP connections (IPv4 and IPv6) of
// the network namespace the calling thread is in (see Listeners).
func Established() ([]Conn, error) {
	const established = "01"
	return tableConns(func(fields []string) bool { return fields[3] == established },
		"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6")
}

// UDPBound lists the UDP sockets of the calling thread's network namespace
// that are bound and not connected: those that take datagrams from anyone,
// the UDP counterpart of a listener (/proc/thread-self/net/udp and udp6).
func UDPBound() ([]Listener, error) {
	var out []Listener
	err := scanTables(func(fields []string) {
		// An unconnected socket's remote port is 0.
		if !strings.HasSuffix(fields[2], ":0000") {
			return
		}
		if addr, err := ParseProcAddr(fields[1]); err == nil {
			out = append(out, Listener{Addr: addr, Inode: fields[9]})
		}
	}, "/proc/thread-self/net/udp", "/proc/thread-self/net/udp6",
		"/proc/thread-self/net/udplite", "/proc/thread-self/net/udplite6")
	return out, err
}

// UDPSockets lists every UDP socket of the calling thread's network
// namespace, bound or connected (Remote's port is 0 when not connected).
func UDPSockets() ([]Conn, error) {
	return tableConns(func([]string) bool { return true }, "/proc/thread-self/net/udp", "/proc/thread-self/net/udp6")
}

// tableConns lists the sockets of the rows of tables that keep takes.
func tableConns(keep func(fields []string) bool, tables ...string) ([]Conn, error) {
	var out []Conn
	err := scanTables(func(fields []string) {
		if !keep(fields) {
			return
		}
		local, err1 := ParseProcAddr(fields[1])
		remote, err2 := ParseProcAddr(fields[2])
		if err1 == nil && err2 == nil {
			out = append(out, Conn{Local: local, Remote: remote, Inode: fields[9]})
		}
	}, tables...)
	return out, err
}

// scanTables calls row with the fields of every socket row ("sl local rem
// st ... inode", 10 fields or more) of the /proc/net tables; a table the
// kernel does not have (IPv6 disabled) has no rows.
func scanTables(row func(fields []string), tables ...string) error {
	for _, table := range tables {
		f, err := os.Open(table)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 10 {
				row(fields)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
