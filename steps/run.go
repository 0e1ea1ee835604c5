package steps

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// runType is the run step.
var runType = Typed(Type{
	Name:    "run",
	Cluster: NotUndone("its process runs with the cluster's address and token; it is stopped at the end, but what it did stays"),
	OnNode:  true,
	Summary: "starts a background process (for example the socat echo service) and waits until it, or a process it forked, listens on ready; a port already held by another process fails at once, naming it",
	Example: `- run: {name: socat, command: "socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat", ready: "127.0.0.1:8181"}`,
	Timeout: 30 * time.Second,
}, buildRun)

// RunSpec is the value of a run step.
type RunSpec struct {
	Name    string       `key:"name,required" shape:"NAME" doc:"names the process: its log file, and what stop and loopback-only refer to"`
	Command spec.Command `key:"command,required" doc:"a string (run by /bin/sh -c) or a list (executed directly)"`
	Ready   spec.Address `key:"ready" doc:"the host:port the process (or one it forked) must listen on before the step passes"`
}

type run struct {
	name  string
	argv  []string
	ready string
}

func buildRun(d *spec.Decoder, val *RunSpec, f *spec.Fields) Step {
	r := &run{name: val.Name, argv: val.Command, ready: string(val.Ready)}
	if why := listensEverywhere(r.argv); why != "" {
		d.Warnf(f.NodeOf(&val.Command), "run.command %s; services should accept loopback connections only (bind them to 127.0.0.1)", why)
	}
	switch {
	case r.name == spec.AgentName || spec.IsSidecar(r.name):
		d.Errorf(f.NodeOf(&val.Name), "run.name %q is reserved for the agent and sidecars; pick another name", r.name)
	case strings.ContainsAny(r.name, `/\ `) || r.name == "":
		d.Errorf(f.NodeOf(&val.Name), "run.name %q must be a simple word (it names the log file)", r.name)
	default:
		d.Define(spec.KindProcess, r.name, f.NodeOf(&val.Name))
	}
	return r
}

func (r *run) String() string {
	s := r.name
	if r.ready != "" {
		s += ", ready on " + r.ready
	}
	return s
}

// Start starts the command. A run is never Beside a pending step: its
// command may rely on anything started before it.
func (r *run) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	r = r.onNodes(env)
	if r.ready != "" {
		// A stale listener would answer in its place, and its own bind
		// would fail: say who holds the port before starting anything.
		if err := env.Inside(func() error { return wait.Free(r.ready) }); err != nil {
			return nil, WithoutLogs(fmt.Errorf("%s cannot start: %w", r.name, err))
		}
	}
	p, err := env.Start(r.name, r.argv)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if r.ready == "" {
			return p.Alive()
		}
		// Ready when the listening socket belongs to this process group,
		// not merely when the port accepts TCP.
		if err := wait.For(ctx, Inside(env, wait.Listening(r.ready, r.name, p.Pid())), wait.Options{Alive: p.Alive, MaxInterval: readinessPoll}); err != nil {
			return WithLogs(fmt.Errorf("%s not ready: %w", r.name, err), r.name)
		}
		// A shell may have forked the real server: watch it too. A
		// listener the leader holds itself is watched with the leader;
		// another, through the group's members that hold it (not their
		// children that inherited it), with no look at every process's
		// sockets.
		if tcp, err := wait.ResolveTCP(r.ready); err == nil {
			var found []sockets.Listener
			_ = env.Inside(func() error { found, _ = sockets.On(tcp); return nil })
			leaders := sockets.Inodes([]int{p.Pid()})
			var members []int
			for _, l := range found {
				if leaders[l.Inode] {
					continue
				}
				if members == nil {
					members = proc.GroupMembers(p.Pid())
				}
				for _, h := range sockets.TopmostAmong(l.Inode, members) {
					if h.PGID == p.Pid() {
						env.WatchMember(r.name, h.PID, fmt.Sprintf("%s, which listened on %s,", h, r.ready))
					}
				}
			}
		}
		return nil
	}, nil
}

var (
	socatListen   = regexp.MustCompile(`(?i)\btcp[46]?-l(isten)?:`)
	wildcardBinds = regexp.MustCompile(`(^|[\s=:,'"\[])(0\.0\.0\.0|\[::\]|::)([\s:,'"\]]|$)`)
)

// listensEverywhere says why a command would listen on every address, or
// "" when it does not seem to.
func listensEverywhere(argv []string) string {
	cmd := strings.Join(argv, " ")
	switch {
	case wildcardBinds.MatchString(cmd):
		return "binds a wildcard address (0.0.0.0 or [::])"
	case socatListen.MatchString(cmd) && !strings.Contains(strings.ToLower(cmd), "bind="):
		return "is a socat listener without bind=, which listens on every address"
	}
	return ""
}

// onNodes is r with a node's name in ready replaced by its address.
func (r *run) onNodes(env Env) *run {
	host, port, err := net.SplitHostPort(r.ready)
	if err != nil {
		return r
	}
	if ip, ok := env.NodeAddr(host); ok {
		copied := *r
		copied.ready = net.JoinHostPort(ip.String(), port)
		return &copied
	}
	return r
}
