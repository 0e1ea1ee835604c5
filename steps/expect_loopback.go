package steps

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/sockets"
)

// expectLoopbackOnly checks that every listening socket of a process and
// of its process group is bound to a loopback address.
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
	var listeners []*net.TCPAddr
	err := env.Inside(func() (err error) { listeners, err = GroupListeners(p.Pid()); return err })
	if err != nil {
		return err
	}
	if len(listeners) == 0 {
		return fmt.Errorf("%s has no listening TCP socket, so there is nothing to check", e.name)
	}
	var exposed []string
	for _, l := range listeners {
		if !l.IP.IsLoopback() {
			exposed = append(exposed, l.String())
		}
	}
	if len(exposed) > 0 {
		return WithLogs(fmt.Errorf("%s listens beyond loopback on %s (bind it to 127.0.0.1)", e.name, strings.Join(exposed, ", ")), e.name)
	}
	return nil
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
