package steps

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in a scenario file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is a problem found at a place in a scenario file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Decoder reads step values and collects every problem it finds, so that
// all of them can be reported at once. It also tracks what earlier steps
// started, opened and registered, which later steps may refer to.
type Decoder struct {
	// External: the scenario runs against an existing cluster (`run
	// --agent`), whose agent, services and sidecars it did not make: what
	// it refers to there is checked when it runs, against the cluster.
	External bool
	File     string // the scenario file, as given by the user
	Dir      string // relative paths resolve against it
	// LookPath finds executables; tests may replace it.
	LookPath func(string) (string, error)

	// IntentionChanged is set once a step has changed an intention, after
	// which the mesh is only eventually consistent.
	IntentionChanged bool

	errs      []error
	warnings  []error
	defined   map[string]map[string]Pos // kind -> name -> where it was defined
	instances map[string]Instance       // service ID -> the instance registered under it
	sidecars  map[string]sidecarClaim   // service ID -> the sidecar process started for it
	proxyFor  map[string]string         // service ID or name -> the ID of a connect-proxy registered for it
	// agents counts start-agent steps so far; lastAgentDev says whether
	// the latest was a dev agent (which keeps nothing across a restart).
	agents       int
	lastAgentDev bool
	lastConn     string
	step         int
	// nodes are the scenario's nodes, node the current step's; process
	// names are per node then ("app1/agent").
	nodes []string
	node  string
}

// Names of things that steps define and refer to, for Define and Use.
const (
	KindProcess  = "process"  // "agent", a run name, "sidecar/SERVICE"
	KindConn     = "conn"     // a connection opened by send
	KindService  = "service"  // a registered service
	KindUpstream = "upstream" // "SERVICE/UPSTREAM" from a registration
)

// AgentName is the process name of the agent started by start-agent.
const AgentName = "agent"

// NewDecoder makes a decoder for the scenario file at path.
func NewDecoder(path string) *Decoder {
	return &Decoder{
		File:      path,
		Dir:       filepath.Dir(path),
		LookPath:  exec.LookPath,
		defined:   map[string]map[string]Pos{},
		instances: map[string]Instance{},
		sidecars:  map[string]sidecarClaim{},
		proxyFor:  map[string]string{},
	}
}

type sidecarClaim struct {
	process string
	line    int
}

// ClaimSidecar records that process is the sidecar of instance id; a
// second sidecar for the same instance (by its name and by its ID, say)
// is an error: both would bind the same ports.
func (d *Decoder) ClaimSidecar(id, process string, at *yaml.Node) {
	if prev, ok := d.sidecars[id]; ok && prev.process != process {
		d.Errorf(at, "the sidecar of %s is already started at line %d (as %s); stop it first", id, prev.line, prev.process)
		return
	}
	d.sidecars[id] = sidecarClaim{process: process, line: at.Line}
}

// ReleaseSidecar records that process was stopped.
func (d *Decoder) ReleaseSidecar(process string) {
	for id, c := range d.sidecars {
		if c.process == process {
			delete(d.sidecars, id)
		}
	}
}

// Instance is a service instance that an earlier step registered, or that
// the agent loaded from its config dir.
type Instance struct {
	ServiceDef
	Pos Pos // the step that made it known
}

// AddInstance records a registered service instance: later steps may
// refer to it by its ID or by its service name, and to its upstreams as
// ID/UPSTREAM or NAME/UPSTREAM.
func (d *Decoder) AddInstance(def ServiceDef, at *yaml.Node) {
	id, name := def.ID(), def.Reg.Name
	d.instances[id] = Instance{ServiceDef: def, Pos: d.Pos(at)}
	warnBuiltinProxyLimits(d, def, at)
	for _, ref := range []string{name, id} {
		d.Define(KindService, ref, at)
		if def.HasSidecar() {
			d.Define(KindSidecarRegistration, ref, at)
		}
		for _, u := range def.Upstreams() {
			d.Define(KindUpstream, ref+"/"+u.DestinationName, at)
		}
	}
	// A proxy registered as a service of its own (kind connect-proxy) is
	// the sidecar of its destination, as connect.sidecar_service would be.
	if p := def.Reg.Proxy; def.Reg.Kind == "connect-proxy" && p != nil {
		for _, ref := range []string{p.DestinationServiceID, p.DestinationServiceName} {
			if ref == "" {
				continue
			}
			d.proxyFor[ref] = id
			d.Define(KindSidecarRegistration, ref, at)
			for _, u := range p.Upstreams {
				d.Define(KindUpstream, ref+"/"+u.DestinationName, at)
			}
		}
	}
}

// HasProxyFor reports whether a proxy registered as its own service
// (kind connect-proxy) serves the instance id (or the service name).
func (d *Decoder) HasProxyFor(id, name string) bool {
	return d.proxyFor[id] != "" || d.proxyFor[name] != ""
}

// Instances returns the instance whose service ID is ref, or else every
// instance of the service named ref, by ID.
func (d *Decoder) Instances(ref string) []Instance {
	if in, ok := d.instances[ref]; ok {
		return []Instance{in}
	}
	var out []Instance
	for _, in := range d.instances {
		if in.Reg.Name == ref {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

func (d *Decoder) isInstanceID(id string) bool {
	_, ok := d.instances[id]
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

// ForgetServices records that every registration is gone (a dev agent was
// restarted: it keeps nothing).
func (d *Decoder) ForgetServices() {
	d.instances = map[string]Instance{}
	d.proxyFor = map[string]string{}
	for _, k := range []string{KindService, KindSidecarRegistration, KindUpstream} {
		delete(d.defined, k)
	}
}

// Errors returns every problem reported so far, in file order.
func (d *Decoder) Errors() []error {
	out := append([]error(nil), d.errs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].(*Error), out[j].(*Error)
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
	return out
}

// Warnf reports something legal but suspicious at n: it is shown, and
// fails nothing.
func (d *Decoder) Warnf(n *yaml.Node, format string, args ...any) {
	d.warnings = append(d.warnings, &Error{Pos: d.Pos(n), Msg: "warning: " + fmt.Sprintf(format, args...)})
}

// Warnings returns what Warnf reported, in file order.
func (d *Decoder) Warnings() []error { return append([]error(nil), d.warnings...) }

// Pos returns the position of n in the scenario file.
func (d *Decoder) Pos(n *yaml.Node) Pos { return Pos{File: d.File, Line: n.Line, Col: n.Column} }

// Errorf reports a problem at n.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.Pos(n), Msg: fmt.Sprintf(format, args...)})
}

// ErrorAt reports a problem at pos.
func (d *Decoder) ErrorAt(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// BeginStep is called by the loader before each step item is decoded.
func (d *Decoder) BeginStep(index int) { d.step = index }

// Define records that the current step makes name (of kind) available to
// later steps. Defining a name that is still defined is an error.
func (d *Decoder) Define(kind, name string, at *yaml.Node) {
	name = d.onNode(kind, name)
	if d.defined[kind] == nil {
		d.defined[kind] = map[string]Pos{}
	}
	// Registering again updates a registration; starting twice is a mistake.
	if prev, dup := d.defined[kind][name]; dup && (kind == KindProcess || kind == KindConn) {
		d.Errorf(at, "%s %q is already %s at line %d; stop it first or pick another name", kind, name, definedVerb(kind), prev.Line)
		return
	}
	d.defined[kind][name] = d.Pos(at)
}

// Undefine records that name is no longer available (it was stopped).
func (d *Decoder) Undefine(kind, name string) {
	for _, k := range d.matching(kind, name) {
		delete(d.defined[kind], k)
	}
}

// Defined reports whether an earlier step made name available (a process
// on the current step's node, or on any node for a step without one).
func (d *Decoder) Defined(kind, name string) bool { return len(d.matching(kind, name)) > 0 }

// onNode qualifies a process name with the current step's node.
func (d *Decoder) onNode(kind, name string) string {
	if kind == KindProcess && d.node != "" {
		return d.node + "/" + name
	}
	return name
}

// matching lists the defined keys name refers to from the current step.
func (d *Decoder) matching(kind, name string) []string {
	if _, ok := d.defined[kind][d.onNode(kind, name)]; ok {
		return []string{d.onNode(kind, name)}
	}
	var out []string
	if kind == KindProcess && d.node == "" && len(d.nodes) > 0 {
		for k := range d.defined[kind] {
			if _, rest, ok := strings.Cut(k, "/"); ok && rest == name {
				out = append(out, k)
			}
		}
	}
	return out
}

// SetNodes records the scenario's nodes (its top-level `nodes`).
func (d *Decoder) SetNodes(nodes []string) { d.nodes = nodes }

// Nodes are the scenario's nodes; none on the host.
func (d *Decoder) Nodes() []string { return d.nodes }

// BeginNode sets the node the current step acts on ("" for none).
func (d *Decoder) BeginNode(node string) { d.node = node }

// Node is the node the current step acts on.
func (d *Decoder) Node() string { return d.node }

// Use reports an error at n unless an earlier step defined name.
func (d *Decoder) Use(kind, name string, n *yaml.Node) bool {
	if d.External && (kind == KindService || kind == KindUpstream || kind == KindProcess && strings.HasPrefix(name, "sidecar/")) {
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
	var known []string
	for k := range d.defined[kind] {
		known = append(known, k)
	}
	sort.Strings(known)
	msg := fmt.Sprintf("no earlier step %s %s %q", definedVerb(kind), kind, name)
	if s := Suggest(name, known); s != "" {
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
		name = fmt.Sprintf("step-%d", d.step+1)
	}
	d.Define(KindConn, name, at)
	d.lastConn = name
	return name
}

// LastConn is the connection the latest send opened or wrote on.
func (d *Decoder) LastConn() string { return d.lastConn }

// SetLastConn records that the current step wrote on conn.
func (d *Decoder) SetLastConn(conn string) { d.lastConn = conn }

// Resolve n's real node, following YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 32; depth++ {
		n = n.Alias
	}
	return n
}

// MappingPairs returns n's key/value pairs with YAML merge keys applied:
// `<<: *defaults` (or a list of aliases) brings in the keys of the merged
// mappings that n does not set itself, as YAML 1.1 defines.
func MappingPairs(n *yaml.Node) [][2]*yaml.Node {
	return mappingPairs(resolve(n), 0, map[*yaml.Node][][2]*yaml.Node{})
}

// mappingPairs memoizes by node, so that a file merging the same anchor
// many times over, level after level, costs each mapping once.
func mappingPairs(n *yaml.Node, depth int, memo map[*yaml.Node][][2]*yaml.Node) [][2]*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode || depth > 16 {
		return nil
	}
	if done, ok := memo[n]; ok {
		return done
	}
	memo[n] = nil // a merge that loops back merges nothing
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = resolve(v)
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				merged = append(merged, mappingPairs(resolve(src), depth+1, memo)...)
			}
			continue
		}
		own = append(own, [2]*yaml.Node{k, v})
	}
	seen := map[string]bool{}
	for _, kv := range own {
		seen[kv[0].Value] = true
	}
	out := own
	for _, kv := range merged {
		// Earlier merged mappings win over later ones; n's own keys over all.
		if !seen[kv[0].Value] {
			seen[kv[0].Value] = true
			out = append(out, kv)
		}
	}
	memo[n] = out
	return out
}

// childNode is the value of key in the mapping n (merge keys applied), or
// n itself when there is none: where to point at key.
func childNode(n *yaml.Node, key string) *yaml.Node {
	for _, kv := range MappingPairs(n) {
		if kv[0].Value == key {
			return resolve(kv[1])
		}
	}
	return n
}

// Fields is a mapping whose keys are checked against a known set.
type Fields struct {
	d         *Decoder
	what      string
	suggested map[string]bool // known keys offered as "did you mean"
	keys      map[string]*yaml.Node
	vals      map[string]*yaml.Node
	at        *yaml.Node
	OK        bool // the value was a mapping
}

// At is the value's own node: where problems of the whole value are.
func (f *Fields) At() *yaml.Node { return f.at }

// Fields checks that n is a mapping (what names it in messages) whose keys
// are all among known and appear once each.
func (d *Decoder) Fields(n *yaml.Node, what string, known ...string) *Fields {
	n = resolve(n)
	f := &Fields{d: d, what: what, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, suggested: map[string]bool{}, at: n}
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			d.Errorf(n, "%s must be a mapping with keys %s, not %s", what, strings.Join(known, ", "), describe(n))
		}
		return f
	}
	f.OK = true
	for _, kv := range MappingPairs(n) {
		k, v := kv[0], kv[1]
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "%s: keys must be plain words", what)
			continue
		}
		if prev, dup := f.keys[key]; dup {
			d.Errorf(k, "%s: key %q appears twice (first at line %d)", what, key, prev.Line)
			continue
		}
		if !slices.Contains(known, key) {
			msg := fmt.Sprintf("%s: unknown key %q", what, key)
			if s := Suggest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
				f.suggested[s] = true
			}
			d.Errorf(k, "%s; known keys: %s", msg, strings.Join(known, ", "))
			continue
		}
		f.keys[key], f.vals[key] = k, resolve(v)
	}
	return f
}

// Has reports whether key is present.
func (f *Fields) Has(key string) bool { return f.vals[key] != nil }

// Node returns key's value node, or nil.
func (f *Fields) Node(key string) *yaml.Node { return f.vals[key] }

// Key returns key's own node (for positions), or nil.
func (f *Fields) Key(key string) *yaml.Node { return f.keys[key] }

// Require reports an error for each key that is missing, unless a
// misspelling of it was already reported.
func (f *Fields) Require(at *yaml.Node, keys ...string) bool {
	ok := f.OK
	for _, k := range keys {
		if f.OK && !f.Has(k) {
			if !f.suggested[k] {
				f.d.Errorf(at, "%s: missing required key %q", f.what, k)
			}
			ok = false
		}
	}
	return ok
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an unexpected YAML node"
}

// Suggest returns the candidate closest to s when it is a plausible typo.
func Suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
