package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// The step environment: the session as one step sees it (steps.Env), on
// the step's node, with its notes and table going to that step.

var _ steps.Env = stepEnv{}

// Guardian is who kills what the run's steps start if the runner dies.
func (s *session) Guardian() proc.Guardian { return s.guardian }

// stepEnv is the session as one step sees it: it acts on the step's node
// (if any), and its notes and table go to that step.
type stepEnv struct {
	*session
	node string
	step int // from 1
	out  *stepOutput
}

// stepOutput is what a step tells the report besides its error.
type stepOutput struct {
	start    time.Time // when the step began
	mu       sync.Mutex
	notes    []string
	table    []string
	cells    []CellEvent
	attempts []steps.Attempt // a probe's
}

// fill puts the step's output in its step-end event (o may be nil).
func (o *stepOutput) fill(ev *StepEvent) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ev.Notes, ev.Table, ev.Cells = slices.Clone(o.notes), slices.Clone(o.table), slices.Clone(o.cells)
	ev.Probe = probeEvent(o.start, o.attempts)
}

func (e stepEnv) Notef(format string, args ...any) {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.notes = append(e.out.notes, fmt.Sprintf(format, args...))
}

func (e stepEnv) Table(lines []string, cells []steps.TableCell) {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.table = slices.Clone(lines)
	e.out.cells = nil
	for _, c := range cells {
		outcome := OutcomePassed
		if !c.Passed {
			outcome = OutcomeFailed
		}
		e.out.cells = append(e.out.cells, CellEvent{Name: c.Name, Outcome: outcome, Detail: c.Detail})
	}
}

func (e stepEnv) Attempted(a steps.Attempt) {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	e.out.attempts = append(e.out.attempts, a)
}

func (e stepEnv) Captured(ev flows.Evidence) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.captures = append(e.captures, capture{step: e.step, ev: ev})
}

func (e stepEnv) AddConn(name string, c *steps.Conn) { e.addConn(e.where(), e.step, name, c) }

func (e stepEnv) Node() string                   { return e.node }
func (e stepEnv) On(node string) steps.Env       { e.node = node; return e }
func (e stepEnv) Cluster() spec.Cluster          { return e.cluster }
func (e stepEnv) Consul() (*api.Client, error)   { return e.consul(e.node) }
func (e stepEnv) AgentAddress() string           { return e.agentAddress(e.node) }
func (e stepEnv) CommandEnv() (string, []string) { return e.commandEnv(e.node) }
func (e stepEnv) ConsulEnv() (string, []string) {
	return e.workDir, e.processEnv(e.node, asRunner, "")
}
func (e stepEnv) Process(name string) (*proc.Process, bool) { return e.process(e.node, name) }
func (e stepEnv) NodeOf(name string) (string, bool)         { return e.nodeOf(name) }
func (e stepEnv) Stop(name string) error                    { return e.stop(e.node, name) }
func (e stepEnv) SetAgent(p *proc.Process, cfg *api.Config) { e.setAgent(e.node, p, cfg) }

func (e stepEnv) External() bool { return e.external }

func (e stepEnv) Undo(what string, fn func(ctx context.Context) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.undos = append(e.undos, undo{what, fn})
}

// undoCount is how many undos the steps have registered so far.
func (s *session) undoCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.undos)
}

// undoAll puts back, newest first, what the steps changed in an existing
// cluster, and says what it did and what it could not.
func (s *session) undoAll(ctx context.Context) (done []string, err error) {
	s.mu.Lock()
	undos := s.undos
	s.undos = nil
	s.mu.Unlock()
	var errs []error
	for i := len(undos) - 1; i >= 0; i-- {
		u := undos[i]
		if e := u.fn(ctx); e != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.what, e))
			continue
		}
		done = append(done, u.what)
	}
	if len(errs) > 0 {
		return done, fmt.Errorf("could not put the cluster back as it was; do it by hand: %w", errors.Join(errs...))
	}
	return done, nil
}

func (e stepEnv) Network() steps.Network {
	if n, ok := e.net.(labNetwork); ok {
		return n
	}
	return nil
}

func (e stepEnv) Start(name string, argv []string, opts ...steps.StartOption) (*proc.Process, error) {
	return e.start(e.node, e.step, name, argv, opts...)
}

func (e stepEnv) SetToken(name, secret string) {
	e.redactor.learnToken(secret)
	e.mu.Lock()
	first := len(e.tokens) == 0
	if e.tokens == nil {
		e.tokens = map[string]string{}
	}
	e.tokens[name] = secret
	e.mu.Unlock()
	if first {
		// Said once per scenario: where a secret is hidden and where not.
		e.Notef("%s", e.secretsNote())
	}
}

// secretsNote says where the scenario's secrets are hidden: everything
// the runner writes, and what processes print (it copies that into their
// logs), but not the files Consul itself keeps, which hold every token as
// Consul stores them.
func (s *session) secretsNote() string {
	note := "secrets are redacted in the report (text, --json, JUnit, test2json) and in the logs the runner writes, what processes print included"
	dirs, _ := filepath.Glob(filepath.Join(s.RunDir(), "agent-data"))
	more, _ := filepath.Glob(filepath.Join(s.RunDir(), "*", "agent-data"))
	if dirs = append(dirs, more...); len(dirs) > 0 {
		note += ", but not in Consul's own data, which keeps them as Consul stores them: " + strings.Join(dirs, ", ")
	}
	return note
}

func (e stepEnv) Token(name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	secret, ok := e.tokens[name]
	return secret, ok
}

func (e stepEnv) OpenLog(name, command string) (io.WriteCloser, string, error) {
	return e.openLog(e.node, name, command)
}

func (e stepEnv) WatchMember(name string, pid int, what string) {
	e.watchMember(e.node, name, pid, what)
}

func (e stepEnv) NodeAddr(node string) (netip.Addr, bool) {
	n, ok := e.session.node(node)
	if !ok {
		return netip.Addr{}, false
	}
	return n.Addr(), true
}

// where is the node the step acts on: its own, or for a step without one
// in a scenario with nodes, the node of the agent it talks to.
func (e stepEnv) where() string {
	if e.node != "" || len(e.cluster.Nodes) == 0 {
		return e.node
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, node := e.agentOf("")
	return node
}

func (e stepEnv) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if n, ok := e.session.node(e.where()); ok {
		return n.DialContext(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (e stepEnv) Inside(fn func() error) error {
	if n, ok := e.session.node(e.where()); ok {
		return n.Do(fn)
	}
	return fn()
}
