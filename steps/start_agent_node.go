package steps

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
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
	const addr = nodeAgentAddr
	// A fresh namespace has nothing listening; an agent still running
	// there would take our registrations.
	if c, err := dialBriefly(ctx, env, addr); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s on node %s is already in use, probably by the node's earlier agent; stop it first (`stop: agent` with `node: %s`)", addr, node, node)
	}
	cmd := s.nodeCommand(env, node, ip.String())
	if s.configDir != "" {
		dir, err := filepath.Abs(s.configDir)
		if err != nil {
			return nil, err
		}
		cmd.ConfigDir = dir
	}
	argv := cmd.argv(bin)
	if !s.server && !s.dev {
		awaitServerServing(ctx, env, s.datacenter)
		if err := ctx.Err(); err != nil {
			return nil, err // interrupted while it waited: nothing started
		}
	}
	p, err := env.Start(spec.AgentName, argv, StartOption{Role: RoleAgent, Disposable: s.dev, Leaves: s.leavesOnTerminate()})
	if err != nil {
		return nil, err
	}
	cfg := AgentConfig(addr, s.settings.ManagementToken)
	cfg.Transport.DialContext = env.Dial
	client, err := AgentClient(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if err := wait.For(ctx, agentReady(client), wait.Options{Alive: p.Alive, MaxInterval: readinessPoll}); err != nil {
			return WithLogs(fmt.Errorf("the agent of node %s (%s of %s) not ready: %w", node, s.role(), s.datacenter, err), spec.AgentName)
		}
		env.SetAgent(p, cfg)
		if len(s.services) > 0 {
			return confirmRegistered(ctx, client, s.services, nil)
		}
		return nil
	}, nil
}

// awaitServerServing returns once a server of datacenter that an earlier
// step started serves its HTTP API, that server has died, or
// serverStartWait has passed; with no such server (none started yet, or
// it runs elsewhere) at once. A client starts only then: agents that
// start together share the machine's cores, and a dev server beside two
// starting clients took about 50 ms longer to its leader (which every
// client's readiness waits for) than alone; a client started once its
// server serves also joins it at its first attempt, not a retry interval
// later. Nothing fails here: a server that never serves fails its own
// step.
func awaitServerServing(ctx context.Context, env Env, datacenter string) {
	for _, node := range env.Cluster().Servers(datacenter, true) {
		at := env.On(node)
		server, ok := at.Process(spec.AgentName)
		if !ok || server.Alive() != nil {
			continue // not started yet, or stopped: another may serve
		}
		serving := wait.Func("a server of "+datacenter+" to serve its API", func(ctx context.Context) error {
			c, err := dialBriefly(ctx, at, nodeAgentAddr)
			if err != nil {
				return err
			}
			return c.Close()
		})
		_ = wait.For(ctx, serving, wait.Options{Alive: server.Alive, Timeout: serverStartWait, MaxInterval: readinessPoll})
		return
	}
}

// serverStartWait bounds how long a client waits for its server to serve
// before it starts anyway (a server takes 0.1-0.2 s; one much slower is
// its own step's failure to report).
const serverStartWait = 5 * time.Second

// nodeAgentAddr is where the runner reaches the agent of a node: its HTTP
// API on the node's own loopback.
const nodeAgentAddr = "127.0.0.1:8500"

// leavesOnTerminate says whether the agent leaves its cluster on SIGTERM:
// only when its config sets leave_on_terminate, since the runner turns
// Consul's default (a client leaves) off where it is not set
// (nodeCommand), and a server's default is to stay.
func (s *startAgent) leavesOnTerminate() bool {
	return s.settings.LeaveOnTerminate != nil && *s.settings.LeaveOnTerminate
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

// nodeCommand is the agent's command line on node (address ip),
// following the recipes measured in docs: servers of a datacenter
// bootstrap together, clients retry-join them, and a second datacenter's
// servers join the primary's over the WAN.
func (s *startAgent) nodeCommand(env Env, node, ip string) agentCommand {
	cluster := env.Cluster()
	cmd := agentCommand{Node: node, Datacenter: s.datacenter, Bind: ip, Client: "127.0.0.1",
		Dev: s.dev, RetryInterval: retryInterval, Args: s.args}
	if !s.dev {
		cmd.DataDir = filepath.Join(env.RunDir(), node, "agent-data")
		cmd.GRPCPort, cmd.RaftMultiplier, cmd.RPCHoldTimeout = 8502, 1, "1s"
		if !s.server && s.settings.LeaveOnTerminate == nil {
			// A client leaves the cluster on SIGTERM by default, which waits
			// seconds for the servers to hear it. At cleanup the whole
			// cluster goes, so nobody needs to hear it; a stop step asks for
			// the leave itself (Env.Stop), keeping Consul's default there.
			leave := false
			cmd.LeaveOnTerminate = &leave
		}
		if s.server {
			cmd.Server, cmd.UI, cmd.Connect = true, true, true
			cmd.BootstrapExpect = len(cluster.Servers(s.datacenter, false))
		}
	}
	cmd.RetryJoin = s.addrsOf(env, cluster.Servers(s.datacenter, true), node)
	if len(cluster.Datacenters()) > 1 {
		primary := cluster.Primary()
		cmd.PrimaryDatacenter = primary
		if (s.server || s.dev) && s.datacenter != primary {
			cmd.RetryJoinWAN = s.addrsOf(env, cluster.Servers(primary, true), node)
		}
	}
	return cmd
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
// cluster's formation time. A client joins at most this long after its
// server's serf port opens, and its services reach the catalog only
// after it has joined; a failed attempt costs a refused connection and
// one log line.
const retryInterval = "50ms"
