package steps

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// book is what the steps of the scenario being read made known so far:
// what earlier steps started, opened and registered, which later steps
// may refer to. It is this package's state of the decoder (spec.State):
// the format knows files and positions, the steps know what a step
// defines.
type book struct {
	defined   map[string]map[string]spec.Pos // kind -> name -> where it was defined
	instances map[string]Instance            // service ID -> the instance registered under it
	sidecars  map[string]sidecarClaim        // service ID -> the sidecar process started for it
	proxyFor  map[string]string              // service ID or name -> the ID of a connect-proxy registered for it
	// agents counts start-agent steps so far; lastAgentDev says whether
	// the latest was a dev agent (which keeps nothing across a restart).
	agents       int
	lastAgentDev bool
	lastConn     string
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

// JudgeWith makes judge the last word on the Consul definitions that the
// file being decoded by d refers to.
func JudgeWith(d *spec.Decoder, judge consuldef.ConsulJudge) { bookOf(d).judge = judge }

func newBook() *book {
	return &book{
		defined:     map[string]map[string]spec.Pos{},
		instances:   map[string]Instance{},
		sidecars:    map[string]sidecarClaim{},
		proxyFor:    map[string]string{},
		datacenters: map[string]bool{},
	}
}

// intentionChecksReadTheirWrites says whether an intention check
// (Consul's Intention.Check, /v1/connect/intentions/check) sees every
// intention written before it: the check is forwarded to the leader of
// the agent's datacenter (unless asked stale, which expect does not),
// which reads its own state, where a write has been applied before it
// returned. That holds in a scenario whose agents are all its own and in
// one datacenter; a secondary datacenter gets its intentions by
// replication from the primary, eventually, and a cluster the scenario
// did not start (--agent, an agent that joins others) may have several.
func (b *book) intentionChecksReadTheirWrites() bool {
	return b.agents > 0 && len(b.datacenters) == 1 && !b.joinsOthers
}

// bookOf is d's book, made on first use.
func bookOf(d *spec.Decoder) *book { return spec.State(d, newBook) }

// Names of things that steps define and refer to, for define and use.
// Process names are per node in a scenario with nodes ("app1/agent").
const (
	KindProcess  = "process"  // "agent", a run name, "sidecar/SERVICE"
	KindConn     = "conn"     // a connection opened by send
	KindService  = "service"  // a registered service
	KindUpstream = "upstream" // "SERVICE/UPSTREAM" from a registration
)

// AgentName is the process name of the agent started by start-agent.
const AgentName = "agent"

type sidecarClaim struct {
	process string
	line    int
	envoy   bool // the sidecar is Envoy, not the built-in proxy
}

// claimSidecar records that process is the sidecar of instance id; a
// second sidecar for the same instance (by its name and by its ID, say)
// is an error: both would bind the same ports.
func claimSidecar(d *spec.Decoder, id, process string, envoy bool, at *yaml.Node) {
	b := bookOf(d)
	if prev, ok := b.sidecars[id]; ok && prev.process != process {
		d.Errorf(at, "the sidecar of %s is already started at line %d (as %s); stop it first", id, prev.line, prev.process)
		return
	}
	b.sidecars[id] = sidecarClaim{process: process, line: at.Line, envoy: envoy}
}

// releaseSidecar records that process was stopped.
func releaseSidecar(d *spec.Decoder, process string) {
	b := bookOf(d)
	for id, c := range b.sidecars {
		if c.process == process {
			delete(b.sidecars, id)
		}
	}
}

// Instance is a service instance that an earlier step registered, or that
// the agent loaded from its config dir.
type Instance struct {
	consuldef.ServiceDef
	Pos spec.Pos // the step that made it known
}

// addInstance records a registered service instance: later steps may
// refer to it by its ID or by its service name, and to its upstreams as
// ID/UPSTREAM or NAME/UPSTREAM.
func addInstance(d *spec.Decoder, def consuldef.ServiceDef, at *yaml.Node) {
	b := bookOf(d)
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
	recordChecks(d, def, at)
	warnBuiltinProxyLimits(d, def, at)
	for _, ref := range []string{name, id} {
		define(d, KindService, ref, at)
		if def.HasSidecar() {
			define(d, KindSidecarRegistration, ref, at)
		}
		for _, u := range def.Upstreams() {
			define(d, KindUpstream, ref+"/"+u.DestinationName, at)
		}
	}
	// A proxy registered as a service of its own (kind connect-proxy) is
	// the sidecar of its destination, as connect.sidecar_service would be.
	if p := def.Reg.Proxy; def.Reg.Kind == "connect-proxy" && p != nil {
		for _, ref := range []string{p.DestinationServiceID, p.DestinationServiceName} {
			if ref == "" {
				continue
			}
			b.proxyFor[ref] = id
			define(d, KindSidecarRegistration, ref, at)
			for _, u := range p.Upstreams {
				define(d, KindUpstream, ref+"/"+u.DestinationName, at)
			}
		}
	}
}

// hasProxyFor reports whether a proxy registered as its own service
// (kind connect-proxy) serves the instance id (or the service name).
func hasProxyFor(d *spec.Decoder, id, name string) bool {
	b := bookOf(d)
	return b.proxyFor[id] != "" || b.proxyFor[name] != ""
}

// instances returns the instance whose service ID is ref, or else every
// instance of the service named ref, by ID.
func instances(d *spec.Decoder, ref string) []Instance {
	b := bookOf(d)
	if in, ok := b.instances[ref]; ok {
		return []Instance{in}
	}
	var out []Instance
	for _, in := range b.instances {
		if in.Reg.Name == ref {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

func isInstanceID(d *spec.Decoder, id string) bool {
	_, ok := bookOf(d).instances[id]
	return ok
}

// InstanceIDs lists the IDs of instances, for messages.
func InstanceIDs(ins []Instance) string {
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID())
	}
	return strings.Join(ids, ", ")
}

// forgetServices records that every registration is gone (a dev agent was
// restarted: it keeps nothing).
func forgetServices(d *spec.Decoder) {
	b := bookOf(d)
	b.instances = map[string]Instance{}
	b.proxyFor = map[string]string{}
	forgetChecks(d)
	for _, k := range []string{KindService, KindSidecarRegistration, KindUpstream} {
		delete(b.defined, k)
	}
}

// define records that the current step makes name (of kind) available to
// later steps. Defining a name that is still defined is an error.
func define(d *spec.Decoder, kind, name string, at *yaml.Node) {
	b := bookOf(d)
	name = onNode(d, kind, name)
	if b.defined[kind] == nil {
		b.defined[kind] = map[string]spec.Pos{}
	}
	// Registering again updates a registration; starting twice is a mistake.
	if prev, dup := b.defined[kind][name]; dup && (kind == KindProcess || kind == KindConn) {
		d.Errorf(at, "%s %q is already %s at line %d; stop it first or pick another name", kind, name, definedVerb(kind), prev.Line)
		return
	}
	b.defined[kind][name] = d.Pos(at)
}

// undefine records that name is no longer available (it was stopped).
func undefine(d *spec.Decoder, kind, name string) {
	b := bookOf(d)
	for _, k := range matching(d, kind, name) {
		delete(b.defined[kind], k)
	}
}

// defined reports whether an earlier step made name available (a process
// on the current step's node, or on any node for a step without one).
func defined(d *spec.Decoder, kind, name string) bool { return len(matching(d, kind, name)) > 0 }

// definedNames lists the names of kind defined so far, in no order.
func definedNames(d *spec.Decoder, kind string) []string {
	var names []string
	for k := range bookOf(d).defined[kind] {
		names = append(names, k)
	}
	return names
}

// onNode qualifies a process name with the current step's node.
func onNode(d *spec.Decoder, kind, name string) string {
	if kind == KindProcess && d.Node() != "" {
		return d.Node() + "/" + name
	}
	return name
}

// matching lists the defined keys name refers to from the current step.
func matching(d *spec.Decoder, kind, name string) []string {
	b := bookOf(d)
	if _, ok := b.defined[kind][onNode(d, kind, name)]; ok {
		return []string{onNode(d, kind, name)}
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

// use reports an error at n unless an earlier step defined name.
func use(d *spec.Decoder, kind, name string, n *yaml.Node) bool {
	if d.External && (kind == KindService || kind == KindUpstream || kind == KindProcess && isSidecar(name)) {
		return true // the existing cluster's: the run asks it
	}
	if defined(d, kind, name) {
		if svc, up, ok := strings.Cut(name, "/"); ok && kind == KindUpstream {
			if ins := instances(d, svc); len(ins) > 1 {
				d.Errorf(n, "%q is ambiguous: service %s has %d instances (IDs %s), each with its own upstream listener; name one by its ID, like %s/%s",
					name, svc, len(ins), InstanceIDs(ins), ins[0].ID(), up)
				return false
			}
		}
		return true
	}
	known := definedNames(d, kind)
	sort.Strings(known)
	msg := fmt.Sprintf("no earlier step %s %s %q", definedVerb(kind), kind, name)
	if s := spec.Suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(known) > 0 {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	d.Errorf(n, "%s", msg)
	return false
}

// needAgent reports an error at n unless an agent was started earlier.
func needAgent(d *spec.Decoder, n *yaml.Node, what string) {
	if !d.External && !defined(d, KindProcess, AgentName) {
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

// openConn defines a connection for the current send step. An empty name
// gets one derived from the step's position.
func openConn(d *spec.Decoder, name string, at *yaml.Node) string {
	if name == "" {
		name = fmt.Sprintf("step-%d", d.StepIndex()+1)
	}
	define(d, KindConn, name, at)
	bookOf(d).lastConn = name
	return name
}

// lastConn is the connection the latest send opened or wrote on.
func lastConn(d *spec.Decoder) string { return bookOf(d).lastConn }

// setLastConn records that the current step wrote on conn.
func setLastConn(d *spec.Decoder, conn string) { bookOf(d).lastConn = conn }
