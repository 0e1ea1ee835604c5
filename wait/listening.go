package wait

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
)

// Listening holds when a listening socket that a connection to addr would
// reach belongs to process group pgid (the process a step started, and the
// children it forked). Another process listening there is fatal at once,
// named with its pid and command line: the group's own bind can only fail,
// and every connection would reach the wrong process.
func Listening(addr, owner string, pgid int) Condition {
	return Func(fmt.Sprintf("%s to listen on %s", owner, addr), func(ctx context.Context) error {
		tcp, err := ResolveTCP(addr)
		if err != nil {
			return Fatal(err)
		}
		found, err := sockets.On(tcp)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("nothing listens on %s yet", addr)
		}
		// The group's leader (pid pgid) usually holds the listener itself;
		// only when it does not are the other members looked for, which
		// means reading every process's stat.
		var mine map[string]bool
		if g, err := unix.Getpgid(pgid); err == nil && g == pgid {
			mine = sockets.Inodes([]int{pgid})
		}
		for _, l := range found {
			if !mine[l.Inode] {
				mine = sockets.Inodes(proc.GroupMembers(pgid))
				break
			}
		}
		owned := false
		for _, l := range found {
			if mine[l.Inode] {
				owned = true
				continue
			}
			// Not ours: fatal when we can name who holds it. A socket
			// whose holder is gone by now (or hidden from this user) is
			// left to the next poll.
			for _, h := range sockets.Holders(l.Inode) {
				if h.PGID == pgid {
					continue
				}
				if startedByThisRun(h.PID) {
					return Fatal(fmt.Errorf("%s is held by %s, which this run started outside the process group of %s: "+
						"another step's process took the port, or one of %s's own daemonized or called setsid, so the runner can neither watch it nor stop it with its group; "+
						"give each process a port of its own, and run servers in the foreground", addr, h, owner, owner))
				}
				return Fatal(&PortHeldError{Addr: addr, Listener: l.Addr.String(), Holder: h, Wanted: owner})
			}
		}
		if !owned {
			return fmt.Errorf("%s is listened on by %s, not by %s", addr, describeListeners(found), owner)
		}
		return nil
	})
}

// PortHeldError says that another process holds a port a step needs.
type PortHeldError struct {
	Addr     string          // the address the step needs
	Listener string          // the listening socket found there
	Holder   sockets.Process // who holds it
	Wanted   string          // who should have it ("" before the step started it)
}

func (e *PortHeldError) Error() string {
	if e.Wanted == "" {
		return fmt.Sprintf("%s is already in use: %s listens on %s; stop it or change the port (nothing was started for this step)",
			e.Addr, e.Holder, e.Listener)
	}
	return fmt.Sprintf("%s is held by %s, which listens on %s, not by %s; stop it or change the port",
		e.Addr, e.Holder, e.Listener, e.Wanted)
}

func describeListeners(ls []sockets.Listener) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, sockets.DescribeHolders(l.Inode))
	}
	return strings.Join(parts, ", ")
}

// Free checks, before a step starts a process that will bind them, that
// nothing listens where connections to addrs would go.
func Free(addrs ...string) error {
	for _, addr := range addrs {
		tcp, err := ResolveTCP(addr)
		if err != nil {
			return err
		}
		found, err := sockets.On(tcp)
		if err != nil {
			return err
		}
		for _, l := range found {
			holders := sockets.Holders(l.Inode)
			h := sockets.Process{PID: -1, Command: "a process this user cannot inspect (run as root to name it)"}
			if len(holders) > 0 {
				h = holders[0]
			}
			return &PortHeldError{Addr: addr, Listener: l.Addr.String(), Holder: h}
		}
	}
	return nil
}

// ResolveTCP parses host:port, looking the host up when it is a name.
func ResolveTCP(addr string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			return nil, err
		}
		return &net.TCPAddr{IP: ip, Port: p}, nil
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	if v4 := tcp.IP.To4(); v4 != nil {
		tcp.IP = v4
	}
	return tcp, nil
}

// startedByThisRun reports whether process pid carries this runner's mark
// (proc.RunMarkVar, inherited by everything the run starts).
func startedByThisRun(pid int) bool {
	return proc.Mark{Var: proc.RunMarkVar, Value: os.Getenv(proc.RunMarkVar)}.On(pid)
}
