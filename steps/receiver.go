package steps

import (
	"fmt"
	"net"
)

// receiver is the environment whose network namespace takes connections
// that env's node dials to ip: env's own for loopback, an unspecified
// address or one of its own addresses, else the scenario's node that has
// ip. Who holds a listener must be judged there: the listeners of the
// dialing node say nothing about a connection that leaves it.
func receiver(env Env, ip net.IP) (Env, error) {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return env, nil
	}
	if ok, err := hasAddress(env, ip); err != nil || ok {
		return env, err
	}
	for _, node := range env.Cluster().Nodes {
		if node == env.Node() {
			continue
		}
		other := env.On(node)
		if ok, err := hasAddress(other, ip); err != nil || ok {
			return other, err
		}
	}
	where := "this machine"
	if env.Node() != "" {
		where = "node " + env.Node() + " or of another node of the scenario"
	}
	return nil, fmt.Errorf("%s is not an address of %s, so who takes connections there cannot be judged; use an address of a node", ip, where)
}

// hasAddress says whether an interface of env's network namespace has ip.
func hasAddress(env Env, ip net.IP) (bool, error) {
	found := false
	err := env.Inside(func() error {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return fmt.Errorf("listing the addresses of the network namespace: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				found = true
			}
		}
		return nil
	})
	return found, err
}
