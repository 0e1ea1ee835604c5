package spec

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/internal/suggest"
)

// book is what the steps of the scenario being read made known so far:
// what earlier steps started, opened and registered, which later steps
// may refer to (the symbol table of a scenario). The step types' build
// functions write and read it through the Decoder's methods below.
type book struct {
	defined   map[string]map[string]Pos // kind -> name -> where it was defined
	instances map[string]Instance       // service ID -> the instance registered under it
	// instanceNodes: service ID -> the nodes whose agents have it ("" the
	// host); one ID may be registered on several nodes.
	instanceNodes map[string]map[string]bool
	sidecars      map[string]sidecarClaim // service ID -> the sidecar process started for it
	proxyFor      map[string]string       // service ID or name -> the ID of a connect-proxy registered for it
	checks        map[CheckKey]RegisteredCheck
	ttlSet        map[CheckKey]TTLSetting // where a check step last set each TTL check
	// agents counts start-agent steps so far, agentsOn those of each node
	// ("" the host); lastDevOn says whether a node's latest was a dev
	// agent (which keeps nothing across a restart).
	agents    int
	agentsOn  map[string]int
	lastDevOn map[string]bool
	lastConn  string
	// intentionChanged is set once a step has changed an intention, after
	// which the mesh is only eventually consistent.
	intentionChanged bool
	// datacenters holds those of the agents started so far; joinsOthers
	// says that one of them joins agents the scenario did not start.
	datacenters map[string]bool
	joinsOthers bool
	// judge has the last word on Consul definitions (JudgeWith); the
	// zero judge leaves them to consuldef's mirror of Consul's decoder.
	judge consuldef.ConsulJudge
}

func newBook() *book {
	return &book{
		defined:   map[string]map[string]Pos{},
		instances: map[string]Instance{},

		instanceNodes: map[string]map[string]bool{},
		agentsOn:      map[string]int{},
		lastDevOn:     map[string]bool{},
		sidecars:      map[string]sidecarClaim{},
		proxyFor:      map[string]string{},
		checks:        map[CheckKey]RegisteredCheck{},
		ttlSet:        map[CheckKey]TTLSetting{},

		datacenters: map[string]bool{},
	}
}

// Names of things that steps define and refer to, for Define and Use.
// Process names are per node in a scenario with nodes ("app1/agent").
const (
	KindProcess  = "process"  // "agent", a run name, "sidecar/SERVICE"
	KindConn     = "conn"     // a connection opened by send
	KindService  = "service"  // a registered service
	KindUpstream = "upstream" // "SERVICE/UPSTREAM" from a registration
	// KindSidecarRegistration names services registered with a
	// sidecar_service (or a connect-proxy of their own).
	KindSidecarRegistration = "sidecar registration"
	// KindToken names the tokens acl-token steps made.
	KindToken = "token"
	// KindIdentity is a service identity a Connect-native probe (expect
	// from:) uses without any registration.
	KindIdentity = "identity"
)

// AgentName is the process name of the agent started by start-agent.
const AgentName = "agent"

// SidecarPrefix begins the process name of a sidecar, as scenarios refer
// to it (`stop: sidecar/web`).
const SidecarPrefix = "sidecar/"

// SidecarProcess is the process name of service's sidecar.
func SidecarProcess(service string) string { return SidecarPrefix + service }

// IsSidecar reports whether a scenario's process name names a sidecar.
func IsSidecar(name string) bool { return strings.HasPrefix(name, SidecarPrefix) }

// JudgeWith makes judge the last word on the Consul definitions that the
// file being decoded refers to.
func (d *Decoder) JudgeWith(judge consuldef.ConsulJudge) { d.book.judge = judge }

// Judge is the last word on Consul definitions (see JudgeWith).
func (d *Decoder) Judge() consuldef.ConsulJudge { return d.book.judge }

// ChangeIntentions records that the current step changes an intention:
// from here on the mesh is only eventually consistent.
func (d *Decoder) ChangeIntentions() { d.book.intentionChanged = true }

// IntentionsChanged says whether an earlier step changed an intention.
func (d *Decoder) IntentionsChanged() bool { return d.book.intentionChanged }

type sidecarClaim struct {
	process string
	line    int
	envoy   bool // the sidecar is Envoy, not the built-in proxy
}

// ClaimSidecar records that process is the sidecar of instance id; a
// second sidecar for the same instance (by its name and by its ID, say)
// is an error: both would bind the same ports.
func (d *Decoder) ClaimSidecar(id, process string, envoy bool, at *yaml.Node) {
	if prev, ok := d.book.sidecars[id]; ok && prev.process != process {
		d.Errorf(at, "the sidecar of %s is already started at line %d (as %s); stop it first", id, prev.line, prev.process)
		return
	}
	d.book.sidecars[id] = sidecarClaim{process: process, line: at.Line, envoy: envoy}
}

// ReleaseSidecar records that process was stopped.
func (d *Decoder) ReleaseSidecar(process string) {
	for id, c := range d.book.sidecars {
		if c.process == process {
			delete(d.book.sidecars, id)
		}
	}
}

// EnvoySidecars lists the instance IDs whose sidecar, started so far, is
// Envoy.
func (d *Decoder) EnvoySidecars() []string {
	var ids []string
	for id, c := range d.book.sidecars {
		if c.envoy {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Instance is a service instance that an earlier step registered, or that
// the agent loaded from its config dir.
type Instance struct {
	consuldef.ServiceDef
	Pos Pos // the step that made it known
}

// AddInstance records a registered service instance: later steps may
// refer to it by its ID or by its service name, and to its upstreams as
// ID/UPSTREAM or NAME/UPSTREAM; its checks are known by their IDs.
func (d *Decoder) AddInstance(def consuldef.ServiceDef, at *yaml.Node) {
	b := d.book
	id, name := def.ID(), def.Reg.Name
	// An ID that is another service's name makes every step that names it
	// mean the instance (as consul connect proxy -sidecar-for does), so a
	// claim written about that service would be about this one.
	for _, other := range b.instances {
		switch {
		case other.ID() == id:
		case id != name && other.Reg.Name == id:
			d.Warnf(at, "the instance ID %q of %s is also the name of the service %s (registered at %s): steps that say %s mean this instance of %s, not service %s; give the instance another ID",
				id, name, id, other.Pos, id, name, id)
		case other.ID() != other.Reg.Name && other.ID() == name:
			d.Warnf(at, "the service name %q is also the ID of an instance of %s (registered at %s): steps that say %s mean that instance of %s, not this service; give that instance another ID",
				name, other.Reg.Name, other.Pos, name, other.Reg.Name)
		}
	}
	b.instances[id] = Instance{ServiceDef: def, Pos: d.Pos(at)}
	if b.instanceNodes[id] == nil {
		b.instanceNodes[id] = map[string]bool{}
	}
	b.instanceNodes[id][d.Node()] = true
	d.recordChecks(def, at)
	d.warnBuiltinProxyLimits(def, at)
	d.defineInstance(b.instances[id])
	d.warnDefaultSidecarChecks(at, def)
}

// defineInstance makes the names an instance gives later steps known:
// its ID and service name, its sidecar registration and upstreams, and,
// for a proxy registered as a service of its own (kind connect-proxy),
// those of its destination, whose sidecar it is as connect.sidecar_service
// would be.
func (d *Decoder) defineInstance(in Instance) {
	b := d.book
	define := func(kind, name string) {
		if b.defined[kind] == nil {
			b.defined[kind] = map[string]Pos{}
		}
		b.defined[kind][name] = in.Pos
	}
	for _, ref := range []string{in.Reg.Name, in.ID()} {
		define(KindService, ref)
		if in.HasSidecar() {
			define(KindSidecarRegistration, ref)
		}
		for _, u := range in.Upstreams() {
			define(KindUpstream, ref+"/"+u.DestinationName)
		}
	}
	if p := in.Reg.Proxy; in.Reg.Kind == "connect-proxy" && p != nil {
		for _, ref := range []string{p.DestinationServiceID, p.DestinationServiceName} {
			if ref == "" {
				continue
			}
			b.proxyFor[ref] = in.ID()
			define(KindSidecarRegistration, ref)
			for _, u := range p.Upstreams {
				define(KindUpstream, ref+"/"+u.DestinationName)
			}
		}
	}
}

// ProxyFor is the service ID of the proxy registered as its own service
// (kind connect-proxy) for the service ID id or name, "" if none.
func (d *Decoder) ProxyFor(id, name string) string {
	if p := d.book.proxyFor[id]; p != "" {
		return p
	}
	return d.book.proxyFor[name]
}

// HasProxyFor reports whether a proxy registered as its own service
// (kind connect-proxy) serves the instance id (or the service name).
func (d *Decoder) HasProxyFor(id, name string) bool {
	return d.book.proxyFor[id] != "" || d.book.proxyFor[name] != ""
}

// Instances returns the instance whose service ID is ref, or else every
// instance of the service named ref, by ID.
func (d *Decoder) Instances(ref string) []Instance {
	if in, ok := d.book.instances[ref]; ok {
		return []Instance{in}
	}
	var out []Instance
	for _, in := range d.book.instances {
		if in.Reg.Name == ref {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// InstanceByID returns the instance registered under the service ID id.
func (d *Decoder) InstanceByID(id string) (Instance, bool) {
	in, ok := d.book.instances[id]
	return in, ok
}

// InstanceIDs lists the IDs of instances, for messages.
func InstanceIDs(ins []Instance) string {
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID())
	}
	return strings.Join(ids, ", ")
}

// StartAgent records that the current step starts an agent (dev: a dev
// agent) on its node. Registrations survive a restart only from a non-dev
// agent to a non-dev agent (the same data dir); a dev agent starts empty.
// On a scenario's nodes each agent is another machine's: a restart
// forgets only what was registered with that node's agent.
func (d *Decoder) StartAgent(dev bool, at *yaml.Node) {
	b := d.book
	node := d.Node()
	if b.agentsOn[node] > 0 && (dev || b.lastDevOn[node]) {
		d.forgetServices()
	}
	b.agents++
	b.agentsOn[node]++
	b.lastDevOn[node] = dev
	d.Define(KindProcess, AgentName, at)
}

// AgentIn records the datacenter of the agent the current step starts,
// and whether it joins agents the scenario did not start.
func (d *Decoder) AgentIn(datacenter string, joinsOthers bool) {
	d.book.datacenters[datacenter] = true
	d.book.joinsOthers = d.book.joinsOthers || joinsOthers
}

// IntentionChecksReadTheirWrites says whether an intention check
// (Consul's Intention.Check, /v1/connect/intentions/check) sees every
// intention written before it: the check is forwarded to the leader of
// the agent's datacenter (unless asked stale, which expect does not),
// which reads its own state, where a write has been applied before it
// returned. That holds in a scenario whose agents are all its own and in
// one datacenter; a secondary datacenter gets its intentions by
// replication from the primary, eventually, and a cluster the scenario
// did not start (--agent, an agent that joins others) may have several.
func (d *Decoder) IntentionChecksReadTheirWrites() bool {
	b := d.book
	return b.agents > 0 && len(b.datacenters) == 1 && !b.joinsOthers
}

// forgetServices records that every registration with the current step's
// node's agent is gone (a dev agent was restarted: it keeps nothing); an
// instance registered on other nodes too stays known.
func (d *Decoder) forgetServices() {
	b := d.book
	for id, nodes := range b.instanceNodes {
		delete(nodes, d.Node())
		if len(nodes) == 0 {
			delete(b.instanceNodes, id)
			delete(b.instances, id)
		}
	}
	b.proxyFor = map[string]string{}
	for _, k := range []string{KindService, KindSidecarRegistration, KindUpstream} {
		delete(b.defined, k)
	}
	left := slices.SortedFunc(maps.Values(b.instances), func(a, b Instance) int { return cmp.Compare(a.ID(), b.ID()) })
	for _, in := range left {
		d.defineInstance(in)
	}
	for k := range b.checks {
		if k.Node == d.Node() {
			delete(b.checks, k)
		}
	}
	for k := range b.ttlSet {
		if k.Node == d.Node() {
			delete(b.ttlSet, k)
		}
	}
}

// RegisteredCheck is a check that a registration defines, by the ID the
// agent gives it.
type RegisteredCheck struct {
	Kind    string // "TTL", "an HTTP", "an alias", ...
	Service string // the ID of the service it belongs to
	Pos     Pos
	Def     *api.AgentServiceCheck // as registered: what it tests
	// DisableRedirects: an HTTP check that takes a redirect as its
	// answer (disable_redirects, which Def cannot carry).
	DisableRedirects bool
	// DefaultSidecar marks Consul's default TCP check of a sidecar
	// registered without checks (agent/sidecar_service.go), whose target
	// is the sidecar's registered address and port, known once it is
	// registered.
	DefaultSidecar bool
}

// CheckKey names a check the scenario registered: the scenario's node
// whose agent has it ("" on the host) and the ID the agent gives it.
// Check IDs are an agent's: one ID on two nodes is two checks.
type CheckKey struct{ Node, ID string }

// RegisteredChecks are the checks registered so far, on every node.
func (d *Decoder) RegisteredChecks() map[CheckKey]RegisteredCheck { return maps.Clone(d.book.checks) }

// ChecksOf are the definitions of the checks of the service serviceID
// registered on the current step's node, by check ID.
func (d *Decoder) ChecksOf(serviceID string) map[string]*api.AgentServiceCheck {
	out := map[string]*api.AgentServiceCheck{}
	for k, c := range d.book.checks {
		if k.Node == d.Node() && c.Service == serviceID {
			out[k.ID] = c.Def
		}
	}
	return out
}

// SidecarService finds the sidecar registration (connect.sidecar_service)
// whose service ID or name is ref, as Consul names it: its name, and its
// ID when ref is one.
func (d *Decoder) SidecarService(ref string) (name, id string, ok bool) {
	for _, in := range d.book.instances {
		sc := in.Sidecar()
		if sc == nil {
			continue
		}
		scName := sc.Name
		if scName == "" {
			scName = in.Reg.Name + "-sidecar-proxy"
		}
		switch ref {
		case in.SidecarID():
			return scName, ref, true
		case scName:
			name, ok = scName, true
		}
	}
	return name, "", ok
}

// TTLSetting is a check step's setting of a TTL check.
type TTLSetting struct {
	Status string
	Note   string // the output it gives the check
	Pos    Pos
}

// SetTTL records that the check step at n sets the TTL check id on its
// node.
func (d *Decoder) SetTTL(id, status, note string, n *yaml.Node) {
	d.book.ttlSet[CheckKey{d.Node(), id}] = TTLSetting{Status: status, Note: note, Pos: d.Pos(n)}
}

// TTLSettings are where check steps so far last set each TTL check.
func (d *Decoder) TTLSettings() map[CheckKey]TTLSetting { return maps.Clone(d.book.ttlSet) }

// Check returns the check registered so far under id on the current
// step's node ("" on the host).
func (d *Decoder) Check(id string) (RegisteredCheck, bool) {
	c, ok := d.book.checks[CheckKey{d.Node(), id}]
	return c, ok
}

// AddAgentCheck records a check an agent's config defines apart from its
// services (a top-level check, of a service by service_id or of the
// node), on the current step's node, by the ID the agent gives it.
func (d *Decoder) AddAgentCheck(c consuldef.CheckDef, at *yaml.Node) {
	d.book.checks[CheckKey{d.Node(), c.ID()}] = RegisteredCheck{Kind: checkKind(c.Def), Service: c.ServiceID, Pos: d.Pos(at), Def: c.Def, DisableRedirects: c.DisableRedirects}
}

// recordChecks records the checks of a registered instance and of its
// sidecar, by the IDs the agent gives them: a check's id, else
// service:SERVICE-ID, with :N (from 1) when the service has several
// checks (Consul's agent.addServiceInternal); a sidecar without checks
// of its own gets two, a TCP check of its public port and an alias check.
func (d *Decoder) recordChecks(def consuldef.ServiceDef, at *yaml.Node) {
	add := func(serviceID string, checks []RegisteredCheck) {
		defs := make([]*api.AgentServiceCheck, len(checks))
		for i, c := range checks {
			defs[i] = c.Def
		}
		ids := consuldef.CheckIDs(serviceID, defs)
		for i, c := range checks {
			id := ids[i]
			c.Service, c.Pos = serviceID, d.Pos(at)
			if c.Kind == "" {
				c.Kind = checkKind(c.Def)
			}
			d.book.checks[CheckKey{d.Node(), id}] = c
		}
	}
	noRedirects, sidecarNoRedirects := def.RedirectsDisabled()
	add(def.ID(), registered(serviceChecks(def.Reg), noRedirects))
	if sc := def.Sidecar(); sc != nil {
		checks := registered(serviceChecks(sc), sidecarNoRedirects)
		if len(checks) == 0 {
			checks = []RegisteredCheck{
				{Kind: "a TCP", DefaultSidecar: true, Def: &api.AgentServiceCheck{Name: "Connect Sidecar Listening", Interval: "10s"}},
				{Def: &api.AgentServiceCheck{Name: "Connect Sidecar Aliasing " + def.ID(), AliasService: def.ID()}},
			}
		}
		add(def.SidecarID(), checks)
	}
}

func registered(defs []*api.AgentServiceCheck, noRedirects []bool) []RegisteredCheck {
	out := make([]RegisteredCheck, len(defs))
	for i, c := range defs {
		out[i].Def = c
		out[i].DisableRedirects = i < len(noRedirects) && noRedirects[i]
	}
	return out
}

// serviceChecks are a registration's check then its checks, as the agent
// reads them (an empty check is none); a definition read from a file has
// them in one list already, in the agent's order (checks, then check).
func serviceChecks(reg *api.AgentServiceRegistration) []*api.AgentServiceCheck {
	var out []*api.AgentServiceCheck
	if reg.Check != nil && !reflect.ValueOf(*reg.Check).IsZero() {
		out = append(out, reg.Check)
	}
	return append(out, reg.Checks...)
}

// checkKind names a check's kind, with its article, for messages.
func checkKind(c *api.AgentServiceCheck) string {
	for _, k := range []struct {
		is   bool
		name string
	}{
		{c.TTL != "", "TTL"},
		{c.HTTP != "", "an HTTP"},
		{c.TCP != "", "a TCP"},
		{c.UDP != "", "a UDP"},
		{c.GRPC != "", "a gRPC"},
		{c.H2PING != "", "an H2 ping"},
		{c.AliasService != "" || c.AliasNode != "", "an alias"},
		{c.DockerContainerID != "", "a Docker"},
		{len(c.Args) > 0, "a script"},
	} {
		if k.is {
			return k.name
		}
	}
	return "a non-TTL"
}

// Define records that the current step makes name (of kind) available to
// later steps. Defining a name that is still defined is an error.
func (d *Decoder) Define(kind, name string, at *yaml.Node) {
	b := d.book
	name = d.onNode(kind, name)
	if b.defined[kind] == nil {
		b.defined[kind] = map[string]Pos{}
	}
	// Registering again updates a registration; starting twice is a mistake.
	if prev, dup := b.defined[kind][name]; dup && (kind == KindProcess || kind == KindConn) {
		d.Errorf(at, "%s %q is already %s at line %d; stop it first or pick another name", kind, name, definedVerb(kind), prev.Line)
		return
	}
	b.defined[kind][name] = d.Pos(at)
}

// Undefine records that name is no longer available (it was stopped).
func (d *Decoder) Undefine(kind, name string) {
	for _, k := range d.matching(kind, name) {
		delete(d.book.defined[kind], k)
	}
}

// Defined reports whether an earlier step made name available (a process
// on the current step's node, or on any node for a step without one).
func (d *Decoder) Defined(kind, name string) bool { return len(d.matching(kind, name)) > 0 }

// DefinedNames lists the names of kind defined so far, in name order.
func (d *Decoder) DefinedNames(kind string) []string {
	var names []string
	for k := range d.book.defined[kind] {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// onNode qualifies a process name with the current step's node.
func (d *Decoder) onNode(kind, name string) string {
	if kind == KindProcess && d.Node() != "" {
		return d.Node() + "/" + name
	}
	return name
}

// matching lists the defined keys name refers to from the current step.
func (d *Decoder) matching(kind, name string) []string {
	b := d.book
	if _, ok := b.defined[kind][d.onNode(kind, name)]; ok {
		return []string{d.onNode(kind, name)}
	}
	var out []string
	if kind == KindProcess && d.Node() == "" && len(d.Nodes()) > 0 {
		for k := range b.defined[kind] {
			if _, rest, ok := strings.Cut(k, "/"); ok && rest == name {
				out = append(out, k)
			}
		}
	}
	return out
}

// Use reports an error at n unless an earlier step defined name.
func (d *Decoder) Use(kind, name string, n *yaml.Node) bool {
	if d.External && (kind == KindService || kind == KindUpstream || kind == KindProcess && IsSidecar(name)) {
		return true // the existing cluster's: the run asks it
	}
	if d.Defined(kind, name) {
		if svc, up, ok := strings.Cut(name, "/"); ok && kind == KindUpstream {
			if ins := d.Instances(svc); len(ins) > 1 {
				d.Errorf(n, "%q is ambiguous: service %s has %d instances (IDs %s), each with its own upstream listener; name one by its ID, like %s/%s",
					name, svc, len(ins), InstanceIDs(ins), ins[0].ID(), up)
				return false
			}
		}
		return true
	}
	known := d.DefinedNames(kind)
	msg := fmt.Sprintf("no earlier step %s %s %q", definedVerb(kind), kind, name)
	if s := suggest.Closest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(known) > 0 {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	d.Errorf(n, "%s", msg)
	return false
}

// NeedAgent reports an error at n unless an agent was started earlier.
func (d *Decoder) NeedAgent(n *yaml.Node, what string) {
	if !d.External && !d.Defined(KindProcess, AgentName) {
		d.Errorf(n, "%s needs a running Consul agent: add a start-agent step before it", what)
	}
}

func definedVerb(kind string) string {
	switch kind {
	case KindConn:
		return "opened"
	case KindService, KindUpstream:
		return "registered"
	default:
		return "started"
	}
}

// OpenConn defines a connection for the current send step. An empty name
// gets one derived from the step's position.
func (d *Decoder) OpenConn(name string, at *yaml.Node) string {
	if name == "" {
		name = fmt.Sprintf("step-%d", d.StepIndex()+1)
	}
	d.Define(KindConn, name, at)
	d.book.lastConn = name
	return name
}

// LastConn is the connection the latest send opened or wrote on.
func (d *Decoder) LastConn() string { return d.book.lastConn }

// SetLastConn records that the current step wrote on conn.
func (d *Decoder) SetLastConn(conn string) { d.book.lastConn = conn }
