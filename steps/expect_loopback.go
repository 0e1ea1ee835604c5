package steps

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
)

// expectLoopbackOnly checks that every listening TCP socket and every
// bound, unconnected UDP socket of a process's family (its process group,
// and whatever it started that left the group: proc.Family) is bound to
// a loopback address.
type expectLoopbackOnly struct{ name string }

func (e *expectLoopbackOnly) String() string {
	return fmt.Sprintf("%s listens on loopback only", e.name)
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
	var bound []boundSocket
	err := env.Inside(func() (err error) { bound, err = familySockets(p.Family()); return err })
	if err != nil {
		return err
	}
	if len(bound) == 0 {
		return fmt.Errorf("%s has no listening TCP socket and no bound UDP socket, so there is nothing to check", e.name)
	}
	var exposed []string
	for _, b := range bound {
		if !b.addr.IP.IsLoopback() {
			exposed = append(exposed, b.String())
		}
	}
	if len(exposed) > 0 {
		return WithLogs(fmt.Errorf("%s listens beyond loopback on %s (bind it to 127.0.0.1)", e.name, strings.Join(exposed, ", ")), e.name)
	}
	return nil
}

// boundSocket is a listening TCP or bound UDP socket.
type boundSocket struct {
	proto string
	addr  *net.TCPAddr
}

func (b boundSocket) String() string {
	if b.proto == "tcp" {
		return b.addr.String()
	}
	return b.proto + " " + b.addr.String()
}

// familySockets lists the listening TCP and bound UDP sockets held by pids.
func familySockets(pids []int) ([]boundSocket, error) {
	inodes := sockets.Inodes(pids)
	tcp, err := sockets.Listeners()
	if err != nil {
		return nil, err
	}
	udp, err := sockets.UDPBound()
	if err != nil {
		return nil, err
	}
	var out []boundSocket
	for _, l := range tcp {
		if inodes[l.Inode] {
			out = append(out, boundSocket{"tcp", l.Addr})
		}
	}
	for _, l := range udp {
		if inodes[l.Inode] {
			out = append(out, boundSocket{"udp", l.Addr})
		}
	}
	return out, nil
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
