package spec

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/suggest"
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

// Decoder reads one scenario file's values and collects every problem it
// finds, so that all of them can be reported at once. The loader tells it
// where it is (BeginStep, StepType, BeginNode). It is the one home of
// validation: beside each problem and warning, it keeps what the steps
// read so far made known (the book: names defined, services registered,
// sidecars claimed, book.go) and the topology (nodes, the agents on them,
// topology.go), against which later steps and the whole are checked.
type Decoder struct {
	// External: the scenario runs against an existing cluster (`run
	// --agent`), whose agent, services and sidecars it did not make: what
	// it refers to there is checked when it runs, against the cluster.
	External bool
	// AllowWrites: with External, steps that change the cluster may run
	// (`run --agent --allow-writes`); without it they are refused.
	AllowWrites bool
	File        string // the scenario file, as given by the user
	Dir         string // relative paths resolve against it

	errs     []error
	warnings []error
	// step is the step item being read, steps every one read so far
	// (with a known step type).
	step  stepInfo
	steps []stepInfo
	// nodes are the scenario's nodes, node the current step's; agents
	// are those the steps start on the nodes (topology.go).
	nodes  []string
	node   string
	agents []plannedAgent
	// book is what the steps read so far made known (book.go).
	book *book
	// root is the file's tree and scope the part being read, for
	// reporting a problem inside an anchor at its aliases (anchors.go).
	root, scope  *yaml.Node
	anchors      *anchorIndex
	scopeAliases []*yaml.Node
}

// NewDecoder makes a decoder for the scenario file at path.
func NewDecoder(path string) *Decoder {
	return &Decoder{File: path, Dir: filepath.Dir(path), book: newBook()}
}

// Errors returns every problem reported so far, in file order, each
// once: a value inside an anchor is read once per alias, and reports
// the same problem at the same place each time.
func (d *Decoder) Errors() []error {
	var out []error
	seen := map[Error]bool{}
	for _, e := range d.errs {
		if k := *e.(*Error); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
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

// Errorf reports a problem at n, and, when n is inside an anchor, at the
// aliases that brought it into the part of the file being read.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.errs = append(d.errs, &Error{Pos: d.Pos(n), Msg: msg})
	d.atAliases(n, msg, func(e *Error) { d.errs = append(d.errs, e) })
}

// ErrorAt reports a problem at pos.
func (d *Decoder) ErrorAt(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// stepInfo is a step item: its index (from 0), its step type and where
// its step-type key is.
type stepInfo struct {
	index    int
	typeName string
	pos      Pos
}

// BeginStep is called by the loader before each step item is decoded.
func (d *Decoder) BeginStep(index int) { d.step = stepInfo{index: index} }

// StepType records the current step's type, once the loader found its
// key at.
func (d *Decoder) StepType(name string, at *yaml.Node) {
	d.step.typeName, d.step.pos = name, d.Pos(at)
	d.steps = append(d.steps, d.step)
}

// StepIndex is the index of the step item being decoded, from 0.
func (d *Decoder) StepIndex() int { return d.step.index }

// Nodes are the scenario's nodes; none on the host.
func (d *Decoder) Nodes() []string { return d.nodes }

// BeginNode sets the node the current step acts on ("" for none).
func (d *Decoder) BeginNode(node string) { d.node = node }

// Node is the node the current step acts on.
func (d *Decoder) Node() string { return d.node }

// Resolve returns n's real node, following YAML aliases.
func Resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 32; depth++ {
		n = n.Alias
	}
	return n
}

// MappingPairs returns n's key/value pairs with YAML merge keys applied:
// `<<: *defaults` (or a list of aliases) brings in the keys of the merged
// mappings that n does not set itself, as YAML 1.1 defines.
func MappingPairs(n *yaml.Node) [][2]*yaml.Node {
	return mappingPairs(Resolve(n), 0, map[*yaml.Node][][2]*yaml.Node{})
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
			v = Resolve(v)
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				merged = append(merged, mappingPairs(Resolve(src), depth+1, memo)...)
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

// Fields is a mapping whose keys are checked against a known set.
type Fields struct {
	d         *Decoder
	what      string
	suggested map[string]bool // known keys offered as "did you mean"
	keys      map[string]*yaml.Node
	vals      map[string]*yaml.Node
	at        *yaml.Node
	OK        bool // the value was a mapping
	// structs are the value structs decoded (a choice of forms: its
	// chosen form's too), whose fields NodeOf and KeyOf name keys by.
	structs []reflect.Value
}

// At is the value's own node: where problems of the whole value are.
func (f *Fields) At() *yaml.Node { return f.at }

// Fields checks that n is a mapping (what names it in messages) whose keys
// are all among known and appear once each.
func (d *Decoder) Fields(n *yaml.Node, what string, known ...string) *Fields {
	n = Resolve(n)
	f := &Fields{d: d, what: what, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, suggested: map[string]bool{}, at: n}
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			d.Errorf(n, "%s must be a mapping with keys %s, not %s", what, strings.Join(known, ", "), Describe(n))
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
			if s := suggest.Closest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
				f.suggested[s] = true
			}
			d.Errorf(k, "%s; known keys: %s", msg, strings.Join(known, ", "))
			continue
		}
		f.keys[key], f.vals[key] = k, Resolve(v)
	}
	return f
}

// has reports whether key is present. A step type's build function asks
// its value instead (a pointer or Optional field), whose presence is
// typed: a misspelt key name cannot be asked for.
func (f *Fields) has(key string) bool { return f.vals[key] != nil }

func (f *Fields) node(key string) *yaml.Node { return f.vals[key] }

func (f *Fields) key(key string) *yaml.Node { return f.keys[key] }

// NodeOf returns the value node of the key that field (a pointer to a
// keyed field of the value decoded, &value.Key, or the value of such a
// pointer field itself) was decoded from; nil when the key was left out.
// The field names the key, so that a misspelt key is a compile error,
// not a position that is never found.
func (f *Fields) NodeOf(field any) *yaml.Node { return f.vals[f.keyOf(field)] }

// KeyOf is NodeOf's key node (where the key itself is written).
func (f *Fields) KeyOf(field any) *yaml.Node { return f.keys[f.keyOf(field)] }

// keyOf finds the key of field among the structs decoded; a pointer to
// anything else is a programming error.
func (f *Fields) keyOf(field any) string {
	p := reflect.ValueOf(field)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		panic(fmt.Sprintf("spec: %s: NodeOf and KeyOf take a pointer to a field of the value, not %T", f.what, field))
	}
	for _, v := range f.structs {
		for _, fl := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(fl.index)
			// A field's address; the first field shares its struct's, so
			// the type must match too.
			if fv.Addr().Pointer() == p.Pointer() && fv.Addr().Type() == p.Type() {
				return fl.key
			}
			if fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Pointer() == p.Pointer() && fv.Type() == p.Type() {
				return fl.key
			}
		}
	}
	panic(fmt.Sprintf("spec: %s: NodeOf and KeyOf take a pointer to a keyed field of the value decoded, not this %T", f.what, field))
}

// Require reports an error for each key that is missing, unless a
// misspelling of it was already reported.
func (f *Fields) Require(at *yaml.Node, keys ...string) bool {
	ok := f.OK
	for _, k := range keys {
		if f.OK && !f.has(k) {
			if !f.suggested[k] {
				f.d.Errorf(at, "%s: missing required key %q", f.what, k)
			}
			ok = false
		}
	}
	return ok
}

// Describe names what kind of YAML value n is, for errors: "a list", "the
// string \"x\"", "a number (3)".
func Describe(n *yaml.Node) string {
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
