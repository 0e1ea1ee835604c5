package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"golang.org/x/sys/unix"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
)

// session is one scenario run's world: the processes and connections its
// steps opened, in the order they were opened. It implements steps.Env.
type session struct {
	redactor  *redactor
	logsDir   string
	workDir   string // user commands run here: the scenario file's folder
	consulBin string
	consulErr error
	grace     time.Duration
	force     <-chan struct{}

	// died hears of a process that ended while the scenario relied on it
	// (no stop step or cleanup stopped it); the run fails at once.
	died func(error)

	mu        sync.Mutex
	closing   bool                   // cleanup has begun: deaths are expected
	stopping  map[*proc.Process]bool // stopped on purpose
	resources []resource             // in the order started
	started   []*proc.Process
	agent     *proc.Process
	agentCfg  *api.Config
	client    *api.Client
	agentGone string // why the agent is no longer usable
}

type resource struct {
	name string
	proc *proc.Process
	conn *steps.Conn
}

var _ steps.Env = stepEnv{}

func (s *session) ConsulBinary() (string, error) { return s.consulBin, s.consulErr }

func (s *session) SetAgent(p *proc.Process, cfg *api.Config) {
	client, _ := api.NewClient(cfg)
	// The agent's token goes to commands as CONSUL_HTTP_TOKEN, so they may
	// print it: hide it wherever it appears, whatever its length.
	s.redactor.learnToken(cfg.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A new agent after `stop: agent` is usable again.
	s.agent, s.agentCfg, s.client, s.agentGone = p, cfg, client, ""
}

func (s *session) RunDir() string {
	dir, err := filepath.Abs(s.logsDir)
	if err != nil {
		return s.logsDir
	}
	return dir
}

func (s *session) CommandEnv() (string, []string) {
	env := os.Environ()
	set := func(key, value string) {
		for i, kv := range env {
			if strings.HasPrefix(kv, key+"=") {
				env[i] = key + "=" + value
				return
			}
		}
		env = append(env, key+"="+value)
	}
	if addr := s.AgentAddress(); addr != "" {
		set("CONSUL_HTTP_ADDR", addr)
	}
	s.mu.Lock()
	token := ""
	if s.agentCfg != nil {
		token = s.agentCfg.Token
	}
	s.mu.Unlock()
	// The caller's own CONSUL_HTTP_TOKEN, when set, is theirs to keep.
	if token != "" && os.Getenv("CONSUL_HTTP_TOKEN") == "" {
		s.redactor.learn(token)
		set("CONSUL_HTTP_TOKEN", token)
	}
	if s.consulBin != "" {
		bin, err := filepath.Abs(s.consulBin)
		if err == nil {
			set("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	return s.workDir, env
}

func (s *session) AgentAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agentCfg == nil {
		return ""
	}
	return s.agentCfg.Address
}

func (s *session) Consul() (*api.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.agentGone != "":
		return nil, errors.New(s.agentGone)
	case s.agent == nil:
		return nil, errors.New("no Consul agent is running; add a start-agent step before this one")
	}
	if err := s.agent.Alive(); err != nil {
		return nil, steps.WithLogs(err, steps.AgentName)
	}
	return s.client, nil
}

// logPath names a process's log file: "sidecar/web" logs to sidecar-web.log.
func (s *session) logPath(name string) string {
	return filepath.Join(s.logsDir, strings.ReplaceAll(name, "/", "-")+".log")
}

func (s *session) Start(name string, argv []string) (*proc.Process, error) {
	path := s.logPath(name)
	command := strings.Join(argv, " ")
	s.redactor.learnFrom(command)
	header := s.redactor.redact(fmt.Sprintf("# scenario: %s started %s: %s\n", name, time.Now().Format(time.RFC3339Nano), command))
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
	spec := proc.Spec{Name: name, Argv: argv, LogPath: path}
	if name != steps.AgentName {
		// A user command (run) gets the mesh and runs beside the scenario;
		// a sidecar gets the mesh (the agent's token, when ACLs are on).
		dir, env := s.CommandEnv()
		spec.Env = env
		if !strings.HasPrefix(name, "sidecar/") {
			spec.Dir = dir
		}
	}
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources = append(s.resources, resource{name: name, proc: p})
	s.started = append(s.started, p)
	go s.watch(p)
	return p, nil
}

// watch reports p's death unless it was stopped on purpose.
func (s *session) watch(p *proc.Process) {
	<-p.Done()
	s.mu.Lock()
	expected := s.closing || s.stopping[p]
	s.mu.Unlock()
	var exit *proc.ExitError
	if !expected && s.died != nil && errors.As(p.Alive(), &exit) {
		s.died(&DiedError{ExitError: exit, Tail: proc.Tail(p.LogPath, tailLines)})
	}
}

// WatchMember reports the exit of a member of name's process group (the
// process holding its listener, under a shell that forked it): the leader
// may run on while the real server is gone. It uses a pidfd, so the exit
// is noticed when it happens, with no polling.
func (s *session) WatchMember(name string, pid int, what string) {
	p, ok := s.Process(name)
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
			s.died(&DiedError{ExitError: &proc.ExitError{Name: name, LogPath: p.LogPath}, Member: what, Tail: proc.Tail(p.LogPath, tailLines)})
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

func (s *session) Process(name string) (*proc.Process, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.resources {
		if r.proc != nil && r.name == name {
			return r.proc, true
		}
	}
	return nil, false
}

func (s *session) OwnerOf(pgid int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.resources {
		if r.proc != nil && r.proc.Pid() == pgid {
			return r.name
		}
	}
	return ""
}

func (s *session) Stop(name string) error {
	s.mu.Lock()
	var target *proc.Process
	for i, r := range s.resources {
		if r.proc != nil && r.name == name {
			target = r.proc
			s.resources = append(s.resources[:i], s.resources[i+1:]...)
			break
		}
	}
	if target != nil && target == s.agent {
		s.agentGone = "the Consul agent was stopped by an earlier stop step"
	}
	if target != nil {
		s.markStopping(target)
	}
	s.mu.Unlock()
	if target == nil {
		return fmt.Errorf("nothing called %q is running", name)
	}
	target.Stop(s.grace, s.force)
	return nil
}

func (s *session) AddConn(name string, c *steps.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources = append(s.resources, resource{name: "conn/" + name, conn: c})
}

func (s *session) Conn(name string) (*steps.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.resources {
		if r.conn != nil && r.name == "conn/"+name {
			return r.conn, nil
		}
	}
	return nil, fmt.Errorf("connection %q is not open (its send step failed or did not run)", name)
}

// closeAll stops every process and closes every connection, newest first,
// and returns the names of what it stopped.
func (s *session) closeAll() []string {
	s.mu.Lock()
	rs := s.resources
	s.resources = nil
	s.closing = true
	s.mu.Unlock()
	var stopped []string
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r.conn != nil {
			r.conn.Close()
			continue
		}
		r.proc.Stop(s.grace, s.force)
		stopped = append(stopped, r.name)
	}
	return stopped
}

// tails returns the last lines of the named processes' logs, or of every
// process started when names is nil (none when it is empty).
func (s *session) tails(names []string, lines int) []LogTail {
	if names != nil && len(names) == 0 {
		return nil
	}
	s.mu.Lock()
	started := append([]*proc.Process(nil), s.started...)
	s.mu.Unlock()
	var out []LogTail
	seen := map[string]bool{}
	for _, p := range started {
		if (len(names) > 0 && !slices.Contains(names, p.Name)) || seen[p.LogPath] {
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

// stepEnv is the session as one step sees it: notes go to that step.
type stepEnv struct {
	*session
	notes *[]string
}

func (e stepEnv) Notef(format string, args ...any) {
	*e.notes = append(*e.notes, fmt.Sprintf(format, args...))
}
