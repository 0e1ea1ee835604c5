package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
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
	"github.com/scenario-tool/scenario/topology"
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

	// net is the run's private network when the scenario has nodes, and
	// cluster who runs which agent there; nil and empty on the host.
	net     network
	cluster steps.Cluster

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
	ev   *topology.WireEvidence
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
	proc *proc.Process
	conn *steps.Conn
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

var _ steps.Env = stepEnv{}

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

// consulClientVars are the variables through which Consul's CLI and its
// Go API client (api.DefaultConfig, which api.NewClient reads again)
// choose the agent they talk to (CONSUL_HTTP_ADDR), as whom
// (CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_AUTH), over what
// (CONSUL_HTTP_SSL and _SSL_VERIFY, CONSUL_CACERT, CONSUL_CAPATH,
// CONSUL_CLIENT_CERT and _KEY, CONSUL_TLS_SERVER_NAME), in which namespace
// and partition, and, for consul connect envoy, the agent's gRPC port
// (CONSUL_GRPC_*). The caller's are about the caller's cluster: a process
// aimed at the scenario's own agent must not get them, or the caller's
// environment decides what the scenario claims. CONSUL_HTTP_TOKEN_FILE,
// for one, wins over the CONSUL_HTTP_TOKEN the runner sets: a sidecar
// given a service's token ran as the management token the caller's file
// held, and a scenario claiming that each sidecar runs with its own
// identity passed while false.
var consulClientVars = []string{
	"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH",
	"CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT", "CONSUL_CAPATH",
	"CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY", "CONSUL_TLS_SERVER_NAME",
	"CONSUL_NAMESPACE", "CONSUL_PARTITION",
	"CONSUL_GRPC_ADDR", "CONSUL_GRPC_CACERT", "CONSUL_GRPC_CAPATH",
}

// Whose Consul identity a process of the scenario acts with.
const (
	// asCommand: a user command (run, exec). Against the scenario's own
	// agent it gets the agent's token, or the caller's CONSUL_HTTP_TOKEN
	// when set (a user may run commands as themselves), and no other of
	// the caller's Consul variables; against an existing cluster (run
	// --agent), the caller's variables are how to reach that cluster and
	// are all kept.
	asCommand = iota
	// asRunner: a process acting as the runner chooses, whatever the
	// caller's environment says: a sidecar (with its step's token, else
	// the agent's), or a consul command the runner runs itself
	// (config-entry).
	asRunner
)

func (s *session) commandEnv(node string) (string, []string) {
	return s.workDir, s.processEnv(node, asCommand, "")
}

// processEnv is the environment of a process on node: the caller's, with
// the scenario's agent, tokens, nodes and consul. token, when set, is the
// one the process acts with instead of the agent's.
func (s *session) processEnv(node string, as int, token string) []string {
	env := os.Environ()
	set := func(key, value string) { env = withVar(env, key, value) }
	s.mu.Lock()
	agentToken, addr := "", ""
	if a, _ := s.agentOf(node); a != nil {
		agentToken, addr = a.cfg.Token, a.cfg.Address
	}
	// The tokens acl-token steps made, for commands that need one:
	// SCENARIO_TOKEN_WEB_TOKEN for web-token.
	for name, secret := range s.tokens {
		set("SCENARIO_TOKEN_"+envName(name), secret)
	}
	s.mu.Unlock()
	callerToken := os.Getenv("CONSUL_HTTP_TOKEN")
	switch {
	case as == asRunner:
		env = withoutVars(env, consulClientVars...)
	case !s.external:
		// The scenario's own agent: the caller's variables are about
		// another cluster. Their CONSUL_HTTP_TOKEN alone is kept, used
		// as is, so that a user may run commands as themselves; their
		// token file goes, or it would win over that token.
		env = withoutVars(env, slices.DeleteFunc(slices.Clone(consulClientVars), func(v string) bool { return v == "CONSUL_HTTP_TOKEN" })...)
		if callerToken != "" {
			agentToken = ""
		}
	case callerToken != "":
		// The existing cluster's token is the caller's, already there.
		agentToken = ""
	}
	if addr != "" {
		set("CONSUL_HTTP_ADDR", addr)
	}
	if token == "" {
		token = agentToken
	}
	if token != "" {
		s.redactor.learn(token)
		set("CONSUL_HTTP_TOKEN", token)
		// A token file would win over it.
		env = withoutVars(env, "CONSUL_HTTP_TOKEN_FILE")
	}
	if n, ok := s.node(node); ok {
		// A command on a node knows where it is: to bind the node's
		// address, say.
		set("SCENARIO_NODE", node)
		set("SCENARIO_NODE_ADDR", n.Addr().String())
	}
	// Every node's address, for commands that reach another node:
	// SCENARIO_NODE_APP2_ADDR for app2.
	for _, name := range s.cluster.Nodes {
		if n, ok := s.node(name); ok {
			set("SCENARIO_NODE_"+envName(name)+"_ADDR", n.Addr().String())
		}
	}
	if dir := s.consulDir(); dir != "" {
		set("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return env
}

// envName is name as a part of an environment variable's name:
// upper case, with - and . as _.
func envName(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// consulDir is a folder whose `consul` is the scenario's consul binary,
// for commands' PATH: the binary's own folder when it is called consul,
// else a link in the run's log folder (bin/consul-1.14.11 beside a
// bin/consul of another version: a CLI of one version against an agent of
// another fails in ways that test nothing).
func (s *session) consulDir() string {
	if s.consulBin == "" {
		return ""
	}
	bin, err := filepath.Abs(s.consulBin)
	if err != nil {
		return ""
	}
	if filepath.Base(bin) == "consul" {
		return filepath.Dir(bin)
	}
	dir := filepath.Join(s.RunDir(), ".bin")
	link := filepath.Join(dir, "consul")
	if target, err := os.Readlink(link); err == nil && target == bin {
		return dir
	}
	if err := os.MkdirAll(dir, proc.DirMode); err != nil {
		return filepath.Dir(bin)
	}
	_ = os.Remove(link)
	if err := os.Symlink(bin, link); err != nil {
		return filepath.Dir(bin)
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
		return nil, steps.WithLogs(err, qualified(at, steps.AgentName))
	}
	return a.client, nil
}

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
	spec := proc.Spec{Name: qualified(node, name), Argv: argv, LogPath: path,
		LogFilter: func(w io.Writer) proc.LogFilter { return s.redactor.writer(w) }}
	token := ""
	for _, o := range opts {
		if o.Token != "" {
			token = o.Token
		}
	}
	switch {
	case name == steps.AgentName:
		// The agent is the runner's: what it runs (script checks, watch
		// handlers) inherits its environment and must reach it, not the
		// caller's cluster or identity.
		spec.Env = withoutVars(os.Environ(), consulClientVars...)
	case strings.HasPrefix(name, "sidecar/"):
		// A sidecar gets the mesh as the runner chooses: its step's
		// token, else the agent's (when ACLs are on).
		spec.Env = s.processEnv(node, asRunner, token)
	default:
		// A user command (run) gets the mesh and runs beside the scenario.
		spec.Env, spec.Dir = s.processEnv(node, asCommand, token), s.workDir
	}
	if n, ok := s.node(node); ok {
		// The child inherits the namespace of the thread that forks it.
		spec.Launch = n.Do
		// On a node, the agent's and the sidecars' every frame is known
		// as theirs by their group (wire evidence).
		switch {
		case name == steps.AgentName:
			spec.Group = topology.AgentGroup
		case strings.HasPrefix(name, "sidecar/"):
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
	r := resource{name: name, node: node, proc: p}
	s.resources = append(s.resources, r)
	s.started = append(s.started, r)
	s.processStarted(node, name, step, p)
	s.watchers.Add(1)
	go s.watch(node, name, p)
	return p, nil
}

// watch reports p's end, and its death unless it was stopped on purpose.
func (s *session) watch(node, name string, p *proc.Process) {
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
	s.processEnded(node, name, p, why)
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

func (s *session) addConn(node string, step int, name string, c *steps.Conn) {
	s.mu.Lock()
	s.resources = append(s.resources, resource{name: "conn/" + name, conn: c})
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

// closeAll stops every process and closes every connection, newest first,
// and returns the names of what it stopped.
func (s *session) closeAll() []string {
	s.mu.Lock()
	rs := s.resources
	s.resources = nil
	s.closing = true
	s.mu.Unlock()
	// Connections first (the runner's own), then each node's processes
	// newest first. Nodes are separate machines: they stop side by side,
	// so that a client agent's graceful leave on one node does not hold
	// up the others; but servers only once every other node has stopped,
	// since a client's leave waits for a server to hear it (seconds,
	// when the servers are already gone).
	byNode := map[string][]resource{}
	var order []string
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
	}
	for _, servers := range []bool{false, true} {
		var wg sync.WaitGroup
		for _, node := range order {
			if s.cluster.RunsServer(node) != servers {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, r := range byNode[node] {
					r.proc.Stop(s.grace, s.force)
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

func (e stepEnv) Captured(ev *topology.WireEvidence) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.captures = append(e.captures, capture{step: e.step, ev: ev})
}

func (e stepEnv) AddConn(name string, c *steps.Conn) { e.addConn(e.where(), e.step, name, c) }

func (e stepEnv) Node() string                   { return e.node }
func (e stepEnv) On(node string) steps.Env       { e.node = node; return e }
func (e stepEnv) Cluster() steps.Cluster         { return e.cluster }
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

// withoutVars is env without the variables named.
func withoutVars(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

// withVar is env with key set to value.
func withVar(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
