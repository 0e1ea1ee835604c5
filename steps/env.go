package steps

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// Env is what a running step may use. The runner implements it and owns
// everything started through it: each process is logged, and stopped in
// reverse order when the scenario ends however it ends.
type Env interface {
	// ConsulBinary is the consul executable to run.
	ConsulBinary() (string, error)
	// Consul returns a client for the scenario's agent. It fails at once,
	// naming the process and its exit status, when the agent has died.
	Consul() (*api.Client, error)
	// SetAgent records the started agent and how to reach its HTTP API.
	SetAgent(p *proc.Process, cfg *api.Config)
	// AgentAddress is the agent's HTTP address (host:port).
	AgentAddress() string
	// RunDir is the run's log folder (absolute), where steps may keep
	// state that must outlive a process, such as a non-dev agent's data.
	RunDir() string
	// CommandEnv is the working directory (the scenario file's folder) and
	// the environment of user commands (run, exec): the caller's, with
	// CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN of the scenario's agent and
	// its consul first on PATH, and without the caller's other Consul
	// client variables (CONSUL_HTTP_TOKEN_FILE, CONSUL_CACERT, ...), which
	// are about another cluster (kept under run --agent).
	CommandEnv() (dir string, env []string)
	// ConsulEnv is CommandEnv for a consul command a step runs itself
	// against the scenario's agent (config-entry): with the agent's token
	// and none of the caller's Consul variables (CONSUL_HTTP_TOKEN_FILE
	// would win over the token).
	ConsulEnv() (dir string, env []string)

	// Start starts argv as the process called name, logged under the
	// scenario's log folder.
	Start(name string, argv []string, opts ...StartOption) (*proc.Process, error)
	// Process returns a running process by name.
	Process(name string) (*proc.Process, bool)
	// WatchMember watches a member of the process group of the running
	// process name (pid, described by what): its exit fails the run as the
	// leader's does, for a command whose shell forked the real server.
	WatchMember(name string, pid int, what string)
	// OwnerOf names the running process of the scenario whose family
	// process pid (of process group pgid) is of, or "" when the scenario
	// did not start it.
	OwnerOf(pid, pgid int) string
	// Stop stops a process by name and forgets it.
	Stop(name string) error
	// Guardian is who kills the process groups a step starts itself
	// (exec) if the runner dies first; nil when nobody does.
	Guardian() proc.Guardian

	// Notef records something the user should know about how this step
	// went, though it passed (it is shown under the step's line).
	Notef(format string, args ...any)
	// Attempted records one probe attempt, for the report's timeline.
	Attempted(a Attempt)
	// Captured keeps a wire capture a step took, for the debug bundle a
	// failed scenario leaves.
	Captured(ev flows.Evidence)
	// Table records what a step that judges many things at once found:
	// lines of text shown under the step, and its cells, each a test case
	// of its own in JUnit and test2json. A later call replaces an earlier.
	Table(lines []string, cells []TableCell)

	// Node is the node this step acts on (its `node:` key), or "" for the
	// host, or, for an API step in a scenario with nodes, any live agent.
	Node() string
	// On is the environment of a step acting on node.
	On(node string) Env
	// NodeOf names the node the running process name runs on ("" on the
	// host); false when none, or several nodes, run it.
	NodeOf(name string) (string, bool)
	// NodeAddr is node's address on the scenario's network.
	NodeAddr(node string) (netip.Addr, bool)
	// Cluster is the scenario's topology: its nodes and who runs which
	// agent (empty on the host).
	Cluster() spec.Cluster
	// Dial connects from the step's node (from the host without nodes).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	// External says the agent is an existing cluster's (`run --agent`):
	// the scenario started none of its processes, and what it changes
	// there must be undone.
	External() bool
	// Undo registers fn to run at cleanup, newest first, to put back
	// what a step changed in an existing cluster; what names it.
	Undo(what string, fn func(ctx context.Context) error)
	// Network is the scenario's private network of nodes, nil on the host.
	Network() Network
	// Inside runs fn on a thread inside the step's node's network
	// namespace (directly on the host): sockets it creates, children it
	// forks and the listeners it reads from /proc are the node's.
	Inside(fn func() error) error

	// SetToken keeps an ACL token's secret under name (an acl-token
	// step's), redacted from every output; Token returns it.
	SetToken(name, secret string)
	Token(name string) (string, bool)

	// AddConn keeps c open until the scenario ends, under name.
	AddConn(name string, c *Conn)
	// Conn returns an open connection by name.
	Conn(name string) (*Conn, error)
}

// TableCell is one verdict of a step that judges many things at once (a
// truth table's cell).
type TableCell struct {
	Name   string // what it judges, like "web -> socat"
	Passed bool
	Detail string // the evidence
}

// LogsError is a step failure that names the processes whose logs explain
// it; the runner shows their last lines.
type LogsError struct {
	Err       error
	Processes []string
}

func (e *LogsError) Error() string { return e.Err.Error() }
func (e *LogsError) Unwrap() error { return e.Err }

// WithLogs marks err as explained by the logs of the named processes.
func WithLogs(err error, processes ...string) error {
	if err == nil {
		return nil
	}
	return &LogsError{Err: err, Processes: processes}
}

// WithoutLogs marks err as explained by itself: no log tail would help
// (for example: a port held by a process the scenario did not start).
func WithoutLogs(err error) error {
	if err == nil {
		return nil
	}
	return &LogsError{Err: err, Processes: []string{}}
}

// RelevantLogs returns the processes named by err, if any: nil when err
// names none, empty when no log is relevant.
func RelevantLogs(err error) []string {
	var le *LogsError
	if errors.As(err, &le) {
		return le.Processes
	}
	return nil
}

// Network is a scenario's private network of nodes: its faults, by node.
type Network interface {
	// Disconnect cuts node's cable: its packets go nowhere, existing TCP
	// connections stall and nothing is reset. Reconnect restores it.
	Disconnect(node string) error
	Reconnect(node string) error
	// SetLoss drops percent of node's packets, silently (0 stops it).
	SetLoss(node string, percent int) error
	// SetBandwidth limits node's outgoing rate in bytes per second (0
	// lifts the limit).
	SetBandwidth(node string, bytesPerSecond uint64) error
	// Capture records what crosses every node's cable until Stop.
	Capture() (WireCapture, error)
	// NodeAt names the node whose address ip is ("" for none).
	NodeAt(ip netip.Addr) string
}

// WireCapture is a capture in progress.
type WireCapture interface {
	Stop() (flows.Evidence, error)
}

// StartOption changes how Env.Start starts a process.
type StartOption struct {
	// Token replaces the scenario's token (the management token under
	// ACLs) in the process's CONSUL_HTTP_TOKEN: a sidecar with its own
	// service identity.
	Token string
	// Role decides the process's environment; a scenario's command by
	// default.
	Role Role
	// Disposable: nothing of the process is kept after the run (a dev
	// agent's state is in memory; a sidecar's configuration is its
	// agent's), so cleanup kills it instead of waiting for a graceful
	// exit. A stop step still stops it gracefully.
	Disposable bool
	// Leaves: an agent that leaves its cluster when it gets SIGTERM,
	// which waits for a server to hear it, so cleanup stops the servers
	// only after it.
	Leaves bool
}
