package steps

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/wait"
)

// startOnNode starts the agent of a scenario's node: bound to the node's
// address, its HTTP API on the node's own loopback, joined by the runner
// to its datacenter's servers and, for a server outside the primary
// datacenter, to the primary's over the WAN. Its readiness is awaited
// later, once every consecutive agent has started.
func (s *startAgent) startOnNode(ctx context.Context, env Env) (func(context.Context) error, error) {
	bin, err := env.ConsulBinary()
	if err != nil {
		return nil, err
	}
	node := env.Node()
	ip, ok := env.NodeAddr(node)
	if !ok {
		return nil, fmt.Errorf("node %q has no address on the scenario's network", node)
	}
	const addr = "127.0.0.1:8500"
	// A fresh namespace has nothing listening; an agent still running
	// there would take our registrations.
	if c, err := dialBriefly(ctx, env, addr); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s on node %s is already in use, probably by the node's earlier agent; stop it first (`stop: agent` with `node: %s`)", addr, node, node)
	}
	argv := s.nodeArgv(bin, env, node, ip.String())
	argv = append(argv, s.args...)
	if s.configDir != "" {
		dir, err := filepath.Abs(s.configDir)
		if err != nil {
			return nil, err
		}
		argv = append(argv, "-config-dir", dir)
	}
	p, err := env.Start(AgentName, argv)
	if err != nil {
		return nil, err
	}
	cfg := AgentConfig(addr, s.managementToken())
	cfg.Transport.DialContext = env.Dial
	client, err := AgentClient(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := wait.For(ctx, agentReady(client), wait.Options{Alive: p.Alive}); err != nil {
			return WithLogs(fmt.Errorf("the agent of node %s (%s of %s) not ready: %w", node, s.role(), s.datacenter, err), AgentName)
		}
		env.SetAgent(p, cfg)
		if len(s.services) > 0 {
			return confirmRegistered(ctx, client, s.services)
		}
		return nil
	}, nil
}

func (s *startAgent) role() string {
	switch {
	case s.dev:
		return "dev server"
	case s.server:
		return "server"
	}
	return "client"
}

// nodeArgv is the agent's command line on node (address ip), following
// the recipes measured in docs: servers of a datacenter bootstrap
// together, clients retry-join them, and a second datacenter's servers
// join the primary's over the WAN.
func (s *startAgent) nodeArgv(bin string, env Env, node, ip string) []string {
	cluster := env.Cluster()
	argv := []string{bin, "agent", "-node", node, "-datacenter", s.datacenter,
		"-bind", ip, "-client", "127.0.0.1"}
	if s.dev {
		argv = append(argv, "-dev")
	} else {
		argv = append(argv,
			"-data-dir", filepath.Join(env.RunDir(), node, "agent-data"),
			"-hcl", "ports { grpc = 8502 }",
			"-hcl", `performance { raft_multiplier = 1, rpc_hold_timeout = "1s" }`)
		if !s.server && !flagSetsHCL(s.args, "leave_on_terminate") {
			// A client leaves the cluster on SIGTERM by default, which waits
			// seconds for the servers to hear it. At cleanup the whole
			// cluster goes, so nobody needs to hear it; a stop step asks for
			// the leave itself (Env.Stop), keeping Consul's default there.
			argv = append(argv, "-hcl", "leave_on_terminate = false")
		}
		if s.server {
			expect := len(cluster.Servers(s.datacenter, false))
			argv = append(argv, "-server", "-bootstrap-expect="+strconv.Itoa(expect), "-ui",
				"-hcl", "connect { enabled = true }")
		}
	}
	join := s.addrsOf(env, cluster.Servers(s.datacenter, true), node)
	for _, a := range join {
		argv = append(argv, "-retry-join", a)
	}
	if len(join) > 0 {
		argv = append(argv, "-retry-interval", retryInterval)
	}
	if len(cluster.Datacenters()) > 1 {
		primary := cluster.Primary()
		argv = append(argv, "-hcl", fmt.Sprintf("primary_datacenter = %q", primary))
		if (s.server || s.dev) && s.datacenter != primary {
			for _, a := range s.addrsOf(env, cluster.Servers(primary, true), node) {
				argv = append(argv, "-retry-join-wan", a)
			}
			argv = append(argv, "-retry-interval-wan", retryInterval)
		}
	}
	return argv
}

// addrsOf are the addresses of nodes, but for self.
func (s *startAgent) addrsOf(env Env, nodes []string, self string) []string {
	var out []string
	for _, n := range nodes {
		if a, ok := env.NodeAddr(n); ok && n != self {
			out = append(out, a.String())
		}
	}
	return out
}

// dialBriefly checks whether something accepts on addr from the step's
// node, within a second.
func dialBriefly(ctx context.Context, env Env, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return env.Dial(ctx, "tcp", addr)
}

// retryInterval is how soon an agent tries again to join: agents that
// start together find each other's ports closed at first, and Consul's
// default of 30 s (1 s in the measured recipes) would be most of the
// cluster's formation time.
const retryInterval = "250ms"

// flagSetsHCL reports whether args set key through an -hcl flag, so that a
// scenario's own choice wins over the runner's default.
func flagSetsHCL(args []string, key string) bool {
	for i, a := range args {
		v, hasValue := strings.CutPrefix(strings.TrimLeft(a, "-"), "hcl=")
		if !hasValue && strings.TrimLeft(a, "-") == "hcl" && i+1 < len(args) {
			v = args[i+1]
		}
		if (hasValue || strings.TrimLeft(a, "-") == "hcl") && strings.Contains(v, key) {
			return true
		}
	}
	return false
}
