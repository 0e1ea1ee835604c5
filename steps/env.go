package steps

import (
	"errors"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/proc"
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
	// CONSUL_HTTP_ADDR of the scenario's agent and its consul first on PATH.
	CommandEnv() (dir string, env []string)

	// Start starts argv as the process called name, logged under the
	// scenario's log folder.
	Start(name string, argv []string) (*proc.Process, error)
	// Process returns a running process by name.
	Process(name string) (*proc.Process, bool)
	// WatchMember watches a member of the process group of the running
	// process name (pid, described by what): its exit fails the run as the
	// leader's does, for a command whose shell forked the real server.
	WatchMember(name string, pid int, what string)
	// OwnerOf names the running process of the scenario whose process
	// group pgid is, or "" when the scenario did not start it.
	OwnerOf(pgid int) string
	// Stop stops a process by name and forgets it.
	Stop(name string) error

	// Notef records something the user should know about how this step
	// went, though it passed (it is shown under the step's line).
	Notef(format string, args ...any)

	// AddConn keeps c open until the scenario ends, under name.
	AddConn(name string, c *Conn)
	// Conn returns an open connection by name.
	Conn(name string) (*Conn, error)
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
