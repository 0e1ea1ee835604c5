package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
	"github.com/scenario-tool/scenario/topology"
)

// The run's processes: started logged, watched, found by name, stopped
// in reverse order, and their deaths and log tails reported.

// qualified names a process for logs and messages: "app1/sidecar/web" on
// a node, "sidecar/web" on the host.
func qualified(node, name string) string {
	if node == "" {
		return name
	}
	return node + "/" + name
}

// logPath names a process's log file: "sidecar/web" logs to
// sidecar-web.log, in a folder of its node's name on a node.
func (s *session) logPath(node, name string) (string, error) {
	dir := s.logsDir
	if node != "" {
		dir = filepath.Join(dir, node)
		if err := os.MkdirAll(dir, proc.DirMode); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".log"), nil
}

func (s *session) start(node string, step int, name string, argv []string, opts ...steps.StartOption) (*proc.Process, error) {
	path, err := s.logPath(node, name)
	if err != nil {
		return nil, err
	}
	command := strings.Join(argv, " ")
	s.redactor.learnFrom(command)
	where := ""
	if node != "" {
		where = " on node " + node
	}
	header := s.redactor.redact(fmt.Sprintf("# scenario: %s started%s %s: %s\n", name, where, time.Now().Format(time.RFC3339Nano), command))
	// Appended, not truncated: a process restarted under the same name
	// keeps the evidence of its first life.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, proc.LogMode)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(header)
	f.Close()
	if err != nil {
		return nil, err
	}
	// What the process writes passes through the runner on its way to the
	// log (proc copies the pipe): hide the secrets there too, so that the
	// log folder holds no token a step's output or a command printed.
	spec := proc.Spec{Name: qualified(node, name), Argv: argv, LogPath: path, Guardian: s.guardian,
		LogFilter: func(w io.Writer) proc.LogFilter { return s.redactor.writer(w) }}
	token, role, disposable, leaves := "", steps.RoleCommand, false, false
	for _, o := range opts {
		if o.Token != "" {
			token = o.Token
		}
		if o.Role != steps.RoleCommand {
			role = o.Role
		}
		disposable = disposable || o.Disposable
		leaves = leaves || o.Leaves
	}
	spec.Env, spec.Dir = s.environment(node, role, token)
	if n, ok := s.node(node); ok {
		// The child inherits the namespace of the thread that forks it.
		spec.Launch = n.Do
		// On a node, the agent's and the sidecars' every frame is known
		// as theirs by their group (wire evidence).
		switch role {
		case steps.RoleAgent:
			spec.Group = topology.AgentGroup
		case steps.RoleSidecar:
			spec.Group = topology.ProxyGroup
		}
	} else if node != "" {
		return nil, fmt.Errorf("%s: no node %q in this scenario", name, node)
	}
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := resource{name: name, node: node, step: step, proc: p, disposable: disposable, leaves: leaves}
	s.resources = append(s.resources, r)
	s.started = append(s.started, r)
	s.processStarted(node, name, role, step, p)
	s.watchers.Add(1)
	go s.watch(node, name, role, p)
	return p, nil
}

// watch reports p's end, and its death unless it was stopped on purpose.
func (s *session) watch(node, name string, role steps.Role, p *proc.Process) {
	defer s.watchers.Done()
	<-p.Done()
	s.mu.Lock()
	expected := s.closing || s.stopping[p]
	why := EndedDied
	switch {
	case s.stopping[p]:
		why = EndedStopped
	case s.closing:
		why = EndedCleanup
	}
	s.mu.Unlock()
	s.processEnded(node, name, role, p, why)
	var exit *proc.ExitError
	if !expected && s.died != nil && errors.As(p.Alive(), &exit) {
		s.died(&DiedError{ExitError: exit, Tail: proc.Tail(p.LogPath, tailLines)})
	}
}

// WatchMember reports the exit of a member of name's process group (the
// process holding its listener, under a shell that forked it): the leader
// may run on while the real server is gone. It uses a pidfd, so the exit
// is noticed when it happens, with no polling.
func (s *session) watchMember(node, name string, pid int, what string) {
	p, ok := s.process(node, name)
	if !ok || pid == p.Pid() {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone already, or no pidfd on this kernel: the leader's watch remains
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		select {
		case <-p.Done():
			return // the leader's own watch says so
		default:
		}
		s.mu.Lock()
		expected := s.closing || s.stopping[p]
		s.mu.Unlock()
		if !expected && s.died != nil {
			s.died(&DiedError{ExitError: &proc.ExitError{Name: p.Name, LogPath: p.LogPath}, Member: what, Tail: proc.Tail(p.LogPath, tailLines)})
		}
	}()
}

// DiedError says that a process of the scenario ended by itself (or was
// killed from outside) while later steps relied on it.
type DiedError struct {
	*proc.ExitError
	// Member, when set, describes the member of the group that ended
	// while its leader runs on.
	Member string
	Tail   []string // the last lines of its log
}

func (e *DiedError) Error() string {
	const why = " (it was not stopped by a stop step; a process of the scenario must run until stopped)"
	if e.Member != "" {
		return fmt.Sprintf("process %q is not running: %s exited, though its group leader runs on (log: %s)%s", e.Name, e.Member, e.LogPath, why)
	}
	return e.ExitError.Error() + why
}

func (e *DiedError) Unwrap() error { return e.ExitError }

func (s *session) markStopping(p *proc.Process) {
	if s.stopping == nil {
		s.stopping = map[*proc.Process]bool{}
	}
	s.stopping[p] = true
}

// process finds the running process name: on node, or on any node for
// "" (the host's first, then the only node's that runs one).
func (s *session) process(node, name string) (*proc.Process, bool) {
	r, ok := s.find(node, name)
	if !ok && node != "" {
		// A probe on one node watches processes on others too.
		r, ok = s.find("", name)
	}
	return r.proc, ok
}

// find is process's lookup, returning the resource. Call without s.mu.
func (s *session) find(node, name string) (resource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []resource
	for _, r := range s.resources {
		if r.proc != nil && r.name == name && (r.node == node || node == "") {
			if r.node == node {
				return r, true
			}
			found = append(found, r)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return resource{}, false
}

// nodeOf names the node where the running process name is, when exactly
// one node runs it (or the host does).
func (s *session) nodeOf(name string) (string, bool) {
	r, ok := s.find("", name)
	return r.node, ok
}

func (s *session) OwnerOf(pid, pgid int) string {
	s.mu.Lock()
	rs := slices.Clone(s.resources)
	s.mu.Unlock()
	for _, r := range rs {
		if r.proc != nil && r.proc.Pid() == pgid {
			return qualified(r.node, r.name)
		}
	}
	// A member that left the group: its cgroup (or mark) says whose it is.
	for _, r := range rs {
		if r.proc != nil && r.proc.Owns(pid, pgid) {
			return qualified(r.node, r.name)
		}
	}
	return ""
}

func (s *session) stop(node, name string) error {
	r, ok := s.find(node, name)
	if !ok {
		if node != "" {
			return fmt.Errorf("nothing called %q is running on node %s", name, node)
		}
		return fmt.Errorf("nothing called %q is running (on several nodes? say which with `node:`)", name)
	}
	s.mu.Lock()
	s.resources = slices.DeleteFunc(s.resources, func(x resource) bool { return x.proc == r.proc })
	if a := s.agents[r.node]; a != nil && a.proc == r.proc {
		a.gone = "the Consul agent was stopped by an earlier stop step"
		if r.node != "" {
			a.gone = "the Consul agent of node " + r.node + " was stopped by an earlier stop step"
		}
	}
	a := s.agents[r.node]
	leaves := a != nil && a.proc == r.proc && a.client != nil && r.node != "" && !s.cluster.RunsServer(r.node)
	s.markStopping(r.proc)
	s.mu.Unlock()
	if leaves {
		// Clients run with leave_on_terminate = false so that cleanup need
		// not wait for their leave; a stop step keeps Consul's default for
		// a client, a graceful leave, which the agent then follows by
		// shutting down. If the leave fails the stop goes on as a crash.
		_ = a.client.Agent().Leave()
	}
	r.proc.Stop(s.grace, s.force)
	return nil
}

// tails returns the last lines of the named processes' logs, or of every
// process started when names is nil (none when it is empty).
func (s *session) tails(names []string, lines int) []LogTail {
	if names != nil && len(names) == 0 {
		return nil
	}
	s.mu.Lock()
	started := append([]resource(nil), s.started...)
	s.mu.Unlock()
	var out []LogTail
	seen := map[string]bool{}
	for _, r := range started {
		p := r.proc
		named := slices.Contains(names, r.name) || slices.Contains(names, p.Name)
		if (len(names) > 0 && !named) || seen[p.LogPath] {
			continue
		}
		seen[p.LogPath] = true
		if t := proc.Tail(p.LogPath, lines); len(t) > 0 {
			out = append(out, LogTail{Path: p.LogPath, Lines: t})
		}
	}
	return out
}

// deaths returns an error for each process that has died while the
// scenario still relied on it. A step that failed on a broken connection
// may have seen the death before its process was reaped, so when none is
// dead yet it waits up to settle for one to be.
func (s *session) deaths(settle time.Duration) []error {
	s.mu.Lock()
	var running []*proc.Process
	for _, r := range s.resources {
		if r.proc != nil {
			running = append(running, r.proc)
		}
	}
	s.mu.Unlock()
	collect := func() []error {
		var errs []error
		for _, p := range running {
			if err := p.Alive(); err != nil {
				errs = append(errs, err)
			}
		}
		return errs
	}
	if errs := collect(); len(errs) > 0 || settle <= 0 || len(running) == 0 {
		return errs
	}
	died := make(chan struct{}, len(running))
	done := make(chan struct{})
	defer close(done)
	for _, p := range running {
		go func() {
			select {
			case <-p.Done():
				died <- struct{}{}
			case <-done:
			}
		}()
	}
	timer := time.NewTimer(settle)
	defer timer.Stop()
	select {
	case <-died:
	case <-timer.C:
	}
	return collect()
}
