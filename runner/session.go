package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/flows"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// session is one scenario run's world: the processes and connections its
// steps opened, in the order they were opened. It implements steps.Env.
type session struct {
	redactor  *redactor
	logsDir   string
	workDir   string // user commands run here: the scenario file's folder
	guardian  proc.Guardian
	consulBin string
	consulErr error
	grace     time.Duration
	force     <-chan struct{}

	// net is the run's private network when the scenario has nodes, and
	// cluster who runs which agent there; nil and empty on the host.
	net     network
	cluster spec.Cluster

	// external: the agent is an existing cluster's (run --agent); undos
	// put back, newest first, what steps changed there.
	external bool
	undos    []undo
	// notUndone names the steps that ran commands against the existing
	// cluster: what they changed there stays, and the report says so.
	notUndone []string
	// tokens are the ACL tokens acl-token steps made, by name.
	tokens map[string]string

	// died hears of a process that ended while the scenario relied on it
	// (no stop step or cleanup stopped it); the run fails at once.
	died func(error)
	// emit reports processes and held connections starting and ending
	// (nil: not reported). watchers are the goroutines that report an
	// end, awaited before the scenario ends.
	emit     func(Event)
	watchers sync.WaitGroup

	mu        sync.Mutex
	closing   bool                   // cleanup has begun: deaths are expected
	stopping  map[*proc.Process]bool // stopped on purpose
	resources []resource             // in the order started
	started   []resource             // every process ever started, for log tails
	agents    map[string]*agentState // by node; "" is the host
	agentSeq  []string               // nodes in the order their agents started
	captures  []capture              // wire captures steps took, for the debug bundle
}

// capture is a wire capture a step took.
type capture struct {
	step int
	ev   flows.Evidence
}

// agentState is the Consul agent of one node (or of the host).
type agentState struct {
	proc   *proc.Process
	cfg    *api.Config
	client *api.Client
	gone   string // why the agent is no longer usable
}

type undo struct {
	what string
	fn   func(ctx context.Context) error
}

type resource struct {
	name string
	node string // "" on the host
	// step is the scenario's step that opened it (1-based): the order of
	// cleanup, even where steps started processes side by side.
	step int
	proc *proc.Process
	conn *steps.Conn
	// disposable: nothing of the process is kept after the run, so
	// cleanup kills it at once (steps.StartOption.Disposable).
	disposable bool
	// leaves: an agent that leaves its cluster on SIGTERM
	// (steps.StartOption.Leaves).
	leaves bool
}

// network is the run's private network of nodes (topology.Lab).
type network interface {
	Node(name string) (netNode, bool)
	// Heal undoes the faults steps made (cut cables, loss) before cleanup.
	Heal() error
}

// netNode is one node of the network: a network namespace of its own.
type netNode interface {
	Addr() netip.Addr
	Namespace() string
	// Do runs fn on a thread inside the node's network namespace: sockets
	// it creates and children it forks belong to the node.
	Do(fn func() error) error
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

func (s *session) ConsulBinary() (string, error) { return s.consulBin, s.consulErr }

func (s *session) setAgent(node string, p *proc.Process, cfg *api.Config) {
	if n, ok := s.node(node); ok && cfg.Transport != nil {
		// The agent's API listens on the node's own loopback.
		cfg.Transport.DialContext = n.DialContext
	}
	var client *api.Client
	if s.external {
		// An existing cluster: how to reach it (TLS, a token file) may
		// well be in the caller's CONSUL_* variables.
		client, _ = api.NewClient(cfg)
	} else {
		// The runner's own agent: as the step said, and nothing of the
		// caller's environment.
		client, _ = steps.AgentClient(cfg)
	}
	// The agent's token goes to commands as CONSUL_HTTP_TOKEN, so they may
	// print it: hide it wherever it appears, whatever its length.
	s.redactor.learnToken(cfg.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agents == nil {
		s.agents = map[string]*agentState{}
	}
	// A new agent after `stop: agent` is usable again.
	s.agents[node] = &agentState{proc: p, cfg: cfg, client: client}
	s.agentSeq = append(slices.DeleteFunc(s.agentSeq, func(n string) bool { return n == node }), node)
}

// agentOf returns the agent a step on node talks to: that node's, or for
// a step with no node the host's, else the first started agent still up.
// Call with s.mu held.
func (s *session) agentOf(node string) (*agentState, string) {
	if a, ok := s.agents[node]; ok || node != "" || len(s.cluster.Nodes) == 0 {
		return a, node
	}
	for _, n := range s.agentSeq {
		if a := s.agents[n]; a.gone == "" && (a.proc == nil || a.proc.Alive() == nil) {
			return a, n
		}
	}
	if len(s.agentSeq) > 0 {
		return s.agents[s.agentSeq[0]], s.agentSeq[0]
	}
	return nil, ""
}

func (s *session) node(name string) (netNode, bool) {
	if s.net == nil || name == "" {
		return nil, false
	}
	return s.net.Node(name)
}

func (s *session) RunDir() string {
	dir, err := filepath.Abs(s.logsDir)
	if err != nil {
		return s.logsDir
	}
	return dir
}

// AgentAddress is the HTTP address of the agent a step with no node talks
// to (for `scenario up`).
func (s *session) AgentAddress() string { return s.agentAddress("") }

func (s *session) agentAddress(node string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _ := s.agentOf(node)
	if a == nil {
		return ""
	}
	return a.cfg.Address
}

func (s *session) consul(node string) (*api.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, at := s.agentOf(node)
	switch {
	case a != nil && a.gone != "":
		return nil, errors.New(a.gone)
	case a == nil && node != "":
		return nil, fmt.Errorf("no Consul agent is running on node %s; add a start-agent step with `node: %s` before this one", node, node)
	case a == nil:
		return nil, errors.New("no Consul agent is running; add a start-agent step before this one")
	}
	if a.proc == nil {
		return a.client, nil // an existing cluster's agent
	}
	if err := a.proc.Alive(); err != nil {
		return nil, steps.WithLogs(err, qualified(at, spec.AgentName))
	}
	return a.client, nil
}

func (s *session) addConn(node string, step int, name string, c *steps.Conn) {
	s.mu.Lock()
	s.resources = append(s.resources, resource{name: "conn/" + name, step: step, conn: c})
	s.mu.Unlock()
	if s.emit == nil {
		return
	}
	s.emit(Event{Event: "conn-open", Conn: &ConnEvent{Name: name, Target: c.Target, Node: node, Step: step}})
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		var how error
		// Only looks: takes no byte off the connection.
		_ = c.Await(context.Background(), func(_ []byte, ended error) (int, bool) { how = ended; return 0, ended != nil })
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		end := steps.DescribeEnd(how)
		if closing && errors.Is(how, net.ErrClosed) {
			end = "closed at cleanup"
		}
		s.emit(Event{Event: "conn-end", Conn: &ConnEvent{Name: name, Target: c.Target, Node: node, End: end}})
	}()
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

// killNow, closed, makes a Stop kill at once.
var killNow = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// closeAll stops every process and closes every connection, newest first,
// and returns the names of what it stopped. A disposable process (a dev
// agent, a sidecar) is killed; the others get SIGTERM and the grace
// period.
func (s *session) closeAll() []string {
	s.mu.Lock()
	rs := s.resources
	s.resources = nil
	s.closing = true
	s.mu.Unlock()
	// In the order of their steps (steps.BesideStarting: a later step's
	// process may have come first), in the order started within a step.
	slices.SortStableFunc(rs, func(a, b resource) int { return a.step - b.step })
	// Connections first (the runner's own), then each node's processes
	// newest first. Nodes are separate machines: they stop side by side,
	// so that a client agent's graceful leave on one node does not hold
	// up the others; but when a client agent leaves on SIGTERM, servers
	// only once every other node has stopped, since its leave waits for a
	// server to hear it (seconds, when the servers are already gone).
	byNode := map[string][]resource{}
	var order []string
	leaving := false
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r.conn != nil {
			r.conn.Close()
			continue
		}
		if _, ok := byNode[r.node]; !ok {
			order = append(order, r.node)
		}
		byNode[r.node] = append(byNode[r.node], r)
		leaving = leaving || r.leaves && !s.cluster.RunsServer(r.node)
	}
	for _, last := range []bool{false, true} {
		var wg sync.WaitGroup
		for _, node := range order {
			if (leaving && s.cluster.RunsServer(node)) != last {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, r := range byNode[node] {
					force := s.force
					if r.disposable {
						// Nothing of it is kept: a graceful exit would
						// only make cleanup wait.
						force = killNow
					}
					r.proc.Stop(s.grace, force)
				}
			}()
		}
		wg.Wait()
	}
	// Reported newest first, as they were started.
	var stopped []string
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].proc != nil {
			stopped = append(stopped, qualified(rs[i].node, rs[i].name))
		}
	}
	return stopped
}
