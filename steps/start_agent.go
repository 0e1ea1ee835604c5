package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// startAgentType is the start-agent step.
var startAgentType = Typed(Type{
	Name:    "start-agent",
	Cluster: OwnClusterOnly("the cluster's agents are already running"),
	OnNode:  true,
	Summary: "starts `consul agent -dev` (or, with dev: false, a single server keeping its data in the run's log folder) and waits until it has a leader and an active Connect CA root; services in config-dir are known to later steps",
	Example: `- start-agent: {args: [-hcl, 'performance { rpc_hold_timeout = "1s" }']}`,
	Timeout: 60 * time.Second,
}, buildStartAgent)

// StartAgentSpec is the value of a start-agent step; `start-agent:` alone
// is {}.
type StartAgentSpec struct {
	spec.NullMeansEmpty
	ConfigDir  spec.Dir `key:"config-dir" doc:"a folder of agent config files (.json, .hcl) the agent loads; its services are known to later steps"`
	Args       []string `key:"args" doc:"more agent flags, like [-hcl, 'log_level = \"debug\"'] (not -dev or -data-dir, which the runner sets); -config-file and -config-dir paths are relative to the scenario file, and their settings count as config-dir's"`
	Node       string   `key:"node" shape:"NODE" doc:"the agent's node name (on a scenario's nodes, the node's own name, set by the runner)"`
	Dev        *bool    `key:"dev" doc:"a dev agent (state in memory), the default on the host; false runs a single server with its data in the run's log folder, kept across a restart. On a scenario's node: a dev server bound to the node's address"`
	Server     bool     `key:"server" doc:"on a scenario's node: a server of its datacenter (the default there is a client); the runner bootstraps a datacenter's servers together"`
	Datacenter string   `key:"datacenter" shape:"NAME" doc:"on a scenario's node: the agent's datacenter (default dc1); the first server's is the primary, which the others join over the WAN"`
}

type startAgent struct {
	configDir string
	args      []string
	node      string
	dev       bool
	services  []consuldef.ServiceDef // loaded from configDir, confirmed once the agent is up
	// settings are read from every config source the agent is given, as
	// it reads them (readConfig): the management token, the ACL default,
	// leave_on_terminate.
	settings consuldef.AgentSettings

	// On a scenario's node (topology): a server or a client of datacenter.
	topology   bool
	server     bool
	datacenter string
}

func buildStartAgent(d *spec.Decoder, val *StartAgentSpec, f *spec.Fields) Step {
	s := &startAgent{configDir: string(val.ConfigDir), args: val.Args, node: val.Node, dev: true,
		server: val.Server, datacenter: val.Datacenter}
	if len(d.Nodes()) > 0 {
		// On a node, an agent is a client unless it says otherwise.
		s.topology, s.dev = true, false
		if s.datacenter == "" {
			s.datacenter = spec.DefaultDatacenter
		}
	}
	if val.Dev != nil {
		s.dev = *val.Dev
	}
	switch {
	case s.server && !s.topology:
		d.Errorf(f.NodeOf(&val.Server), "start-agent.server: without nodes the agent is always a server (a dev one, or with dev: false a non-dev one); remove server, or list nodes at the top to start clients")
	case val.Datacenter != "" && !datacenterName.MatchString(val.Datacenter):
		d.Errorf(f.NodeOf(&val.Datacenter), "start-agent.datacenter %q must be a short DNS label, like dc2", val.Datacenter)
	case val.Datacenter != "" && !s.topology:
		d.Errorf(f.NodeOf(&val.Datacenter), "start-agent.datacenter: datacenters need nodes (list them at the top); the host's single agent is in dc1")
	case s.topology && val.Node != "":
		d.Errorf(f.NodeOf(&val.Node), "start-agent.node: on a scenario's node the Consul node is named after it (%s); remove this node", d.Node())
	}
	// What survives a restart, and the agent's place in the cluster,
	// are the book's to judge (spec.Decoder.StartAgent, PlanAgent).
	d.StartAgent(s.dev, f.At())
	d.PlanAgent(spec.AgentPlan{Datacenter: s.datacenter, Server: s.server || s.dev, Dev: s.dev})
	dc := s.datacenter
	if dc == "" {
		dc = spec.DefaultDatacenter
	}
	joins := false
	for _, a := range s.args {
		joins = joins || strings.Contains(strings.SplitN(a, "=", 2)[0], "join")
	}
	d.AgentIn(dc, joins)
	s.readConfig(d, f.NodeOf(&val.ConfigDir), f.NodeOf(&val.Args))
	if n := f.NodeOf(&val.Args); n != nil {
		for _, a := range s.args {
			if strings.TrimLeft(a, "-") == "dev" && len(a) > 3 {
				d.Errorf(n, "start-agent.args: -dev is what start-agent runs by default; remove it (dev: false runs a non-dev server instead)")
			}
		}
		if flagValue(s.args, "data-dir") != "" {
			d.Errorf(n, "start-agent.args: -data-dir is set by the runner (a dev agent keeps its state in memory; with dev: false the data lives in the run's log folder); remove it")
		}
	}
	if s.topology {
		for _, a := range s.args {
			for _, owned := range []string{"bind", "client", "retry-join", "join", "retry-join-wan", "join-wan", "bootstrap-expect", "server", "datacenter", "node"} {
				if strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-") == owned {
					d.Errorf(f.NodeOf(&val.Args), "start-agent.args: -%s is set by the runner on a scenario's node (it joins the agents it starts); remove it (use server, dev and datacenter)", owned)
				}
			}
		}
	}
	return s
}

// existingConfigDir is the config dir if it is one ("" otherwise: a
// missing one is the agent's to refuse).
func (s *startAgent) existingConfigDir() string {
	if st, err := os.Stat(s.configDir); s.configDir == "" || err != nil || !st.IsDir() {
		return ""
	}
	return s.configDir
}

var datacenterName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

// configSource is one -config-dir or -config-file the agent is given:
// start-agent's config-dir, or a flag of its args.
type configSource struct {
	path string     // absolute
	what string     // how errors name it: "start-agent.config-dir"
	at   *yaml.Node // where it is written
}

// readConfig reads the agent's configuration from every source it is
// given, in the order the agent merges them (consuldef.AgentSources):
// config-dir (the runner passes it first), then the -config-dir and
// -config-file flags of args in order, then their -hcl flags. Its
// services are known to later steps exactly as if registered; its
// settings (consuldef.AgentSettings) are the runner's. A relative path
// in args is the scenario file's, as config-dir's is: the agent is given
// it absolute.
func (s *startAgent) readConfig(d *spec.Decoder, configDirAt, argsAt *yaml.Node) {
	argAt := func(i int) *yaml.Node {
		if seq := spec.Resolve(argsAt); seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
			return seq.Content[i]
		}
		return argsAt
	}
	parsed, err := consuldef.ParseAgentArgs(s.args)
	var argErr *consuldef.AgentArgError
	if errors.As(err, &argErr) {
		d.Errorf(argAt(argErr.Index), "start-agent.args: %v; consul agent would refuse to start (`consul agent -h` lists its flags)", err)
	}
	format := parsed.Format()
	if c := parsed.ConfigFormat; c != nil && format != "json" && format != "hcl" {
		d.Errorf(argAt(c.Index), "start-agent.args: -config-format %q: Consul reads config files as hcl or json only; give one of them", format)
		format = ""
	}
	var sources []configSource
	if dir := s.existingConfigDir(); dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			sources = append(sources, configSource{path: abs, what: "start-agent.config-dir", at: configDirAt})
		}
	}
	args := slices.Clone(s.args)
	for _, a := range parsed.ConfigPaths {
		at, what := argAt(a.Index), fmt.Sprintf("start-agent.args: -%s %s", a.Flag, a.Value)
		p := a.Value
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.Dir, p)
		}
		abs, err := filepath.Abs(p)
		if err == nil {
			_, err = os.Stat(abs)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.Errorf(at, "%s: %s does not exist (paths are relative to the scenario file's directory %s); fix the path", what, abs, d.Dir)
			continue
		case err != nil:
			d.Errorf(at, "%s: %v; the agent could not read it", what, err)
			continue
		}
		args[a.Index] = a.WithValue(args[a.Index], abs)
		sources = append(sources, configSource{path: abs, what: what, at: at})
	}
	s.args = args
	var paths, files []string
	for _, src := range sources {
		paths = append(paths, src.path)
		list, err := consuldef.ConfigFilesAt(src.path, format)
		if err != nil {
			d.Errorf(src.at, "%s: %v", src.what, err)
			continue
		}
		for _, path := range list {
			if s.readConfigFile(d, src, path, format) {
				files = append(files, path)
			}
		}
	}
	for _, h := range parsed.HCL {
		if err := s.settings.Apply([]byte(h.Value), "hcl"); err != nil {
			d.Errorf(argAt(h.Index), "start-agent.args: -hcl: %v; Consul would refuse it, so fix the HCL", err)
		}
	}
	if err := d.Judge().JudgeAgentConfig(paths, files, format); err != nil {
		at, what := sources[0].at, sources[0].what
		for _, src := range sources {
			if strings.Contains(err.Error(), src.path) {
				at, what = src.at, src.what
				break
			}
		}
		d.Errorf(at, "%s: %v", what, err)
	}
}

// readConfigFile reads one of the agent's config files: its services
// and checks into the book, its settings over those of the files before
// it. It says whether the file could be read.
func (s *startAgent) readConfigFile(d *spec.Decoder, src configSource, path, format string) bool {
	data, err := consuldef.ReadDefinition(path)
	if err != nil {
		d.Errorf(src.at, "%s: %v", src.what, err)
		return false
	}
	format = consuldef.ConfigFileFormat(path, format)
	file, err := consuldef.ParseServiceFile(path, data, format, true)
	if err == nil {
		err = file.RefusedOnLinux()
	}
	if err != nil {
		d.ReportDefinitionErrors(src.at, src.what, err)
		return true
	}
	if err := s.settings.Apply(data, format); err != nil {
		d.Errorf(src.at, "%s: %s: %v; Consul would refuse it", src.what, path, err)
	}
	for _, def := range file.Services {
		if prev, dup := d.InstanceByID(def.ID()); dup && prev.Pos == d.Pos(src.at) {
			d.Errorf(src.at, "%s: service ID %q is defined twice in %s", src.what, def.ID(), src.path)
		}
		d.AddInstance(def, src.at)
		warnLoopbackSidecarOnNode(d, src.at, src.what, def)
		s.services = append(s.services, def)
	}
	for _, c := range file.Checks {
		d.AddAgentCheck(c, src.at)
	}
	return true
}

func (s *startAgent) String() string {
	if s.topology {
		role := "client"
		switch {
		case s.dev:
			role = "dev server"
		case s.server:
			role = "server"
		}
		return fmt.Sprintf("consul agent, %s of %s", role, s.datacenter)
	}
	label := "consul agent -dev"
	if !s.dev {
		label = "consul agent -server (non-dev, data in the run's log folder)"
	}
	if s.node != "" {
		label += " (node " + s.node + ")"
	}
	if n := len(s.services); n > 0 {
		from := s.configDir
		if parsed, _ := consuldef.ParseAgentArgs(s.args); len(parsed.ConfigPaths) > 0 || from == "" {
			from = "its config files"
		}
		label += fmt.Sprintf(", %d services from %s", n, from)
	}
	return label
}

// httpAddr is where the agent's HTTP API will listen, read from its flags
// the way consul reads them (a dev agent listens on 127.0.0.1:8500).
func (s *startAgent) httpAddr() string {
	host, port := "127.0.0.1", "8500"
	if c := flagValue(s.args, "client"); c != "" && c != "0.0.0.0" && c != "::" {
		host = c
	}
	if p := flagValue(s.args, "http-port"); p != "" {
		port = p
	}
	return net.JoinHostPort(host, port)
}

// Beside: on a scenario's nodes, consecutive agents start together,
// so that servers which need each other to elect a leader can; each is
// still settled, and reported, in order. On the host, the agent's API
// answers and it knows a leader before anything after it starts; only its
// Connect CA may still be coming up, beside the steps that need just the
// API (see APIServed).
func (s *startAgent) Beside(pending Step) bool {
	_, agent := pending.(*startAgent)
	return s.topology && agent
}

// APIServed says whether, while this step is pending, the agent's API
// already answers with a leader known: on the host, Start returns only
// then and leaves the CA's first root to settle; on a node, Start only
// starts the process.
func (s *startAgent) APIServed() bool { return !s.topology }

func (s *startAgent) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	if !s.topology {
		return s.runHost(ctx, env)
	}
	return s.startOnNode(ctx, env)
}

// agentReady is when an agent is usable, as Consul's sdk/testutil has it:
// it knows a leader (a client: through its servers) and its datacenter's
// Connect CA has an active root to sign leaf certificates.
func agentReady(client *api.Client) wait.Condition {
	return wait.All(leaderKnown(client), activeRoot(client))
}

// aclReady holds once the agent's ACL system is bootstrapped: a new
// leader bootstraps its ACLs a moment after it is elected, and a request
// with a token before that is refused ("ACL system must be bootstrapped
// before making any requests that require authorization").
func aclReady(client *api.Client) wait.Condition {
	return wait.Func("the ACL system to be bootstrapped", func(ctx context.Context) error {
		_, _, err := client.ACL().TokenReadSelf((&api.QueryOptions{}).WithContext(ctx))
		if err != nil && strings.Contains(err.Error(), "must be bootstrapped") {
			return err
		}
		return nil // bootstrapped (or no ACLs): what else the token meets is the steps' to say
	})
}

// leaderKnown holds once the agent knows its datacenter's raft leader.
func leaderKnown(client *api.Client) wait.Condition {
	return wait.Func("a raft leader", func(ctx context.Context) error {
		leader, err := client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		if leader == "" {
			return errors.New("no leader yet")
		}
		return nil
	})
}

// activeRoot holds once the Connect CA has an active root. Each check is
// a blocking query (up to rootWait) that returns as soon as the roots
// change, so the wait ends when the root appears, not at the next poll.
func activeRoot(client *api.Client) wait.Condition {
	var index uint64
	return wait.Func("an active Connect CA root", func(ctx context.Context) error {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: rootWait}
		roots, meta, err := client.Connect().CARoots(q.WithContext(ctx))
		if err != nil {
			index = 0
			return err
		}
		for _, r := range roots.Roots {
			if r.Active {
				return nil
			}
		}
		index = meta.LastIndex
		return errors.New("no active root yet")
	})
}

// rootWait bounds one blocking query for the CA roots.
const rootWait = 2 * time.Second

// readinessPoll paces the waits for a started process to be ready (an
// agent's leader, a listener of its own): each check is local and cheap
// (an HTTP call on loopback, a netlink query), and a poll that comes late
// delays every step after it. The default backoff reaches 20 ms after
// 0.1 s, about when an agent or a proxy comes up.
const readinessPoll = 5 * time.Millisecond

// runHost starts the agent on the host and returns once its API answers
// with a leader known; settle awaits the CA's first active root.
func (s *startAgent) runHost(ctx context.Context, env Env) (settle func(context.Context) error, err error) {
	bin, err := env.ConsulBinary()
	if err != nil {
		return nil, err
	}
	addr := s.httpAddr()
	// A consul already listening there would answer our readiness checks
	// and take our registrations: refuse rather than test the wrong agent.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is already in use, probably by another consul agent; stop it (for example `pkill consul`) and run again", addr)
	}
	cmd := agentCommand{Dev: s.dev, Node: s.node, Args: s.args}
	if !s.dev {
		// A single server with what -dev would otherwise give: Connect, the
		// UI, gRPC for Envoy, loopback addresses and a fast raft. Its data
		// dir is the same for every start in this run, so services, the CA
		// and intentions survive a restart.
		cmd.Server, cmd.BootstrapExpect, cmd.UI = true, 1, true
		cmd.DataDir = filepath.Join(env.RunDir(), "agent-data")
		cmd.Bind, cmd.Client = "127.0.0.1", "127.0.0.1"
		cmd.Connect, cmd.GRPCPort, cmd.RaftMultiplier = true, 8502, 1
	}
	if s.configDir != "" {
		dir, err := filepath.Abs(s.configDir)
		if err != nil {
			return nil, err
		}
		cmd.ConfigDir = dir
	}
	argv := cmd.argv(bin)
	p, err := env.Start(spec.AgentName, argv, StartOption{Role: RoleAgent, Disposable: s.dev})
	if err != nil {
		return nil, err
	}
	// With ACLs, the runner's own calls, the sidecars and the commands use
	// the management token the agent was configured with, whatever the
	// caller's CONSUL_* variables say (AgentClient).
	cfg := AgentConfig(addr, s.settings.ManagementToken)
	client, err := AgentClient(cfg)
	if err != nil {
		return nil, err
	}
	served := leaderKnown(client)
	if cfg.Token != "" {
		// The steps that go beside the CA's settling use the token.
		served = wait.All(served, aclReady(client))
	}
	if err := wait.For(ctx, served, wait.Options{Alive: p.Alive, MaxInterval: readinessPoll}); err != nil {
		return nil, WithLogs(fmt.Errorf("agent at %s not ready: %w", addr, err), spec.AgentName)
	}
	env.SetAgent(p, cfg)
	if len(s.services) > 0 {
		// What the config dir defines is what the agent loaded.
		if err := confirmRegistered(ctx, client, s.services, nil); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) error {
		// The steps that went beside this one spent its time too: a root
		// that is active by now counts, however little of it is left.
		now, cancel := context.WithTimeout(context.WithoutCancel(ctx), rootWait)
		defer cancel()
		if activeRoot(client).Check(now) == nil {
			return nil
		}
		if err := wait.For(ctx, activeRoot(client), wait.Options{Alive: p.Alive}); err != nil {
			return WithLogs(fmt.Errorf("agent at %s not ready: %w", addr, err), spec.AgentName)
		}
		return nil
	}, nil
}

// flagValue finds -name=value, -name value, --name=value or --name value.
func flagValue(args []string, name string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Graph draws the config dir's instances and the agent's default
// intention.
func (s *startAgent) Graph(g *Graph) {
	for _, def := range s.services {
		g.addInstance(def)
	}
	g.defaultDeny = s.settings.DefaultPolicy == "deny"
}

// warnLoopbackSidecarOnNode warns about a sidecar that an agent on a
// scenario's node loads from its config dir at a loopback address (its
// own, or inherited from its service): Consul advertises it there, and
// other nodes' sidecars dial 127.0.0.1 on their own node. A register
// step gives such a sidecar the node's address; a config dir is the
// agent's own, so it is left as written.
func warnLoopbackSidecarOnNode(d *spec.Decoder, at *yaml.Node, what string, def consuldef.ServiceDef) {
	reg := def.Reg
	if len(d.Nodes()) == 0 || reg.Connect == nil || reg.Connect.SidecarService == nil {
		return
	}
	addr := reg.Connect.SidecarService.Address
	if addr == "" {
		addr = reg.Address
	}
	if !isLoopback(addr) {
		return
	}
	d.Warnf(at, "%s: the sidecar of %s would be advertised at %s, which sidecars on other nodes cannot reach (they dial their own loopback): register it with a register step instead, which advertises the sidecar at the node's address (a config file cannot know it)", what, reg.Name, addr)
}
