package steps

import (
	"context"
	"fmt"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"net"
	"strings"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
)

// expectLoopbackOnly checks that every listening TCP socket and every
// bound, unconnected UDP socket of a process's family (its process group,
// its cgroup, whatever it started: proc.Family) is bound to a loopback
// address, each in the network namespace it was made in: a member that
// moved to another namespace with a link to a LAN is reached there,
// whatever the node's own namespace shows, and so is a socket a member
// made in a namespace it then left.
type expectLoopbackOnly struct{ name string }

func (e *expectLoopbackOnly) String() string {
	return fmt.Sprintf("%s listens on loopback only", e.name)
}

// Beside: the sockets of a process's family do not depend on another
// process still coming up, so the check goes beside a sidecar or a
// command whose readiness is awaited, unless that is the process checked.
func (e *expectLoopbackOnly) Beside(pending Step) bool {
	switch p := pending.(type) {
	case *sidecar:
		return e.name != spec.SidecarProcess(p.service)
	case *run:
		return e.name != p.name
	}
	return false
}

func (e *expectLoopbackOnly) Run(ctx context.Context, env Env) error {
	if node, ok := env.NodeOf(e.name); ok && node != "" {
		env = env.On(node) // its sockets are in its node's namespace
	}
	p, ok := env.Process(e.name)
	if !ok {
		return fmt.Errorf("%q is not running", e.name)
	}
	if err := p.Alive(); err != nil {
		return err
	}
	var home sockets.Namespace
	if err := env.Inside(func() (err error) { home, err = sockets.ThisThreadsNamespace(); return err }); err != nil {
		return err
	}
	bound, err := sockets.BoundBy(p.Family())
	if err != nil {
		return err
	}
	if len(bound) == 0 {
		return fmt.Errorf("%s has no listening TCP socket and no bound UDP socket, so there is nothing to check", e.name)
	}
	var exposed []string
	for _, b := range bound {
		if b.Addr.IP.IsLoopback() {
			continue
		}
		where := ""
		switch {
		case b.Netns.Same(home):
		case len(b.Netns.Pids) > 0:
			where = fmt.Sprintf(" in %s, not the one it runs in, where its family's %s is", b.Netns, describePids(b.Netns.Pids))
		default:
			where = fmt.Sprintf(" in %s, which no member of its family is in: %s holds it from outside (made there before leaving, or passed to it)", b.Netns, describeHolders(b.Inode, p.Family()))
		}
		exposed = append(exposed, b.String()+where)
	}
	if len(exposed) > 0 {
		return WithLogs(fmt.Errorf("%s listens beyond loopback on %s (bind it to 127.0.0.1)", e.name, strings.Join(exposed, ", ")), e.name)
	}
	return nil
}

// describePids names processes with their command lines (the first three).
func describePids(pids []int) string {
	var parts []string
	for i, pid := range pids {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(pids)-3))
			break
		}
		parts = append(parts, sockets.Describe(pid).String())
	}
	return strings.Join(parts, ", ")
}

// describeHolders names the topmost of family that hold the socket with
// inode.
func describeHolders(inode string, family []int) string {
	var pids []int
	for _, h := range sockets.TopmostAmong(inode, family) {
		pids = append(pids, h.PID)
	}
	if len(pids) == 0 {
		return "a member that has gone since"
	}
	return describePids(pids)
}

// GroupListeners lists the listening TCP sockets of the processes in
// process group pgid, from /proc.
func GroupListeners(pgid int) ([]*net.TCPAddr, error) {
	inodes := sockets.Inodes(proc.GroupMembers(pgid))
	all, err := sockets.Listeners()
	if err != nil {
		return nil, err
	}
	var out []*net.TCPAddr
	for _, l := range all {
		if inodes[l.Inode] {
			out = append(out, l.Addr)
		}
	}
	return out, nil
}
