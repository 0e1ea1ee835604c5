// Package steps holds the scenario step types. Each type lives in one file:
// the Go type of its value (from which package spec generates its decoder,
// JSON Schema and docs), its build function (what only the scenario as a
// whole can tell, asked of package spec, validation's one home: names
// defined by earlier steps, kept in the decoder's book), its behaviour,
// and one Type value; Default() is the registry of
// them all, listed once in builtin, the single source for decoding,
// validation and the help text. Consul's own definition files (register's, start-agent's
// config-dir) are read by package consuldef.
package steps

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// Step is one decoded, validated step, ready to run: a Runner, which does
// its work in one call, or a Starter, which starts something whose
// readiness is awaited later. Run derives the one call for a Starter.
type Step interface {
	// String is the step's label in output: what it does, in a few words.
	String() string
}

// Runner is a step that does its work in one call. ctx carries the
// step's deadline.
type Runner interface {
	Step
	Run(ctx context.Context, env Env) error
}

// Starter is a step whose outcome settles after Start returns: it started
// something (a process, an agent) whose readiness is still to come. The
// runner calls settle later, when a step needs it settled or at the
// latest at the end, and meanwhile begins the steps that may go Beside it.
type Starter interface {
	Step
	Start(ctx context.Context, env Env) (settle func(ctx context.Context) error, err error)
}

// Beside is a step that may begin while pending, an earlier Starter, has
// not settled yet: it neither needs what pending waits for nor disturbs
// it (sidecars beside each other and beside the services they front; a
// registration beside an agent whose API answers but whose CA is still
// coming up, or beside another node's registration; a check of one
// sidecar beside another's). A step begins once
// every pending step up to the last one it may not go beside (it lacks
// Beside, or Beside says no, and the pending step is not Passable or does
// not let it) has settled. Every step still passes or fails, and is
// reported, in order.
type Beside interface {
	Beside(pending Step) bool
}

// BesideStarting is a Starter that may begin even while starting, the
// Starter before it, is still in its Start (asking the agent, forking its
// process): its own Start needs nothing that one's does, so their
// processes come up together (consecutive sidecars, and a sidecar after
// the service it fronts). The runner then runs starting's Start in the
// background; every other step waits until the Starts before it have
// returned. Processes are still stopped in the order of their steps, and
// each Start's failure is its own step's, reported in order.
type BesideStarting interface {
	Starter
	BesideStarting(starting Step) bool
}

// Passable is a pending step that only watches: an exact reply's quiet
// window on a held connection. Passes says whether next may begin while it
// watches: only a step that can neither touch what it watches nor cut it
// short. Its verdict still lands, in order, before the scenario's, and a
// failure there fails the scenario at that step.
type Passable interface {
	Passes(next Step) bool
}

// Run performs s in one go: a Runner's Run, or a Starter's start, then its
// settling.
func Run(ctx context.Context, env Env, s Step) error {
	switch s := s.(type) {
	case Starter:
		ready, err := s.Start(ctx, env)
		if err != nil {
			return err
		}
		return ready(ctx)
	case Runner:
		return s.Run(ctx, env)
	}
	return fmt.Errorf("step %q can neither run nor start (a bug in its step type)", s)
}

// background runs fn on a goroutine of its own and delivers its error, a
// panic in it as the step's failure (as the runner does for Start), for a
// Starter whose settling is that goroutine's end.
func background(fn func() error) <-chan error {
	result := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				result <- fmt.Errorf("the step panicked (a bug in scenario, please report it): %v\n%s", r, debug.Stack())
			}
		}()
		result <- fn()
	}()
	return result
}

// Type describes a step type: how to decode it and how to explain it.
// Make one with Typed, from the Go type of the step's value, which gives
// Decode, Schema and Fields; Summary, Example and Timeout are written.
type Type struct {
	Name    string
	Summary string // one line: what the step does
	// Fields is the value's shape, e.g. "{name, command, [ready]}";
	// generated from Spec when empty.
	Fields  string
	Example string // a one-line YAML example of a whole step item
	// OnNode marks a step that acts on one node (it starts a process there
	// or talks to that node's own agent): in a scenario with nodes, its
	// item must say which with `node:`.
	OnNode bool
	// Timeout is the step's default deadline when the item sets none.
	Timeout time.Duration
	// Cluster is what the step does to the Consul cluster it runs
	// against. Every type must say: `run --agent` runs scenarios against
	// a live cluster and refuses, allows or undoes each step by it.
	Cluster ClusterEffect
	// Spec is the Go type of the step's value (set by Typed).
	Spec reflect.Type
	// Schema is the JSON Schema of the step's value, for editors and for
	// `scenario schema`; Decode stays the judge of what is valid.
	// Generated from Spec when nil.
	Schema map[string]any
	// Decode reads the step's value. It reports problems through d and may
	// return nil when it did.
	Decode func(d *spec.Decoder, value *yaml.Node) Step
}

// Typed makes a step type whose value is an S, a Go type described by
// its field tags (see package spec). build turns a decoded, complete S
// (every required key present) into the step; f gives the nodes of the
// keys, for positions. build may return nil when it reported a problem.
func Typed[S any](t Type, build func(d *spec.Decoder, s *S, f *spec.Fields) Step) Type {
	t.Spec = reflect.TypeFor[S]()
	name := t.Name
	t.Decode = func(d *spec.Decoder, v *yaml.Node) Step {
		var s S
		f, ok := d.Decode(v, name, &s)
		if !ok {
			return nil
		}
		return build(d, &s, f)
	}
	return t
}

// complete fills in what Spec gives and checks the rest is there.
func (t Type) complete() (Type, error) {
	if t.Spec != nil {
		if t.Schema == nil {
			t.Schema = spec.Schema(t.Spec)
		}
		if t.Fields == "" {
			t.Fields = spec.Shape(t.Spec)
		}
	}
	if t.Name == "" || t.Decode == nil || t.Summary == "" || t.Example == "" || t.Schema == nil {
		return t, fmt.Errorf("steps: type %q needs a Name, Decode (or Typed), Summary, Example and Schema", t.Name)
	}
	if err := t.Cluster.check(); err != nil {
		return t, fmt.Errorf("steps: type %q: %w", t.Name, err)
	}
	return t, nil
}

// Registry is a set of step types: what a scenario may use. Load reads a
// file against one; Default holds the built-in types, and a test builds
// its own with Default().With(extra types).
type Registry struct {
	types map[string]Type
}

// NewRegistry makes a registry of types; a type twice, or an incomplete
// one, is an error.
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{types: map[string]Type{}}
	for _, t := range types {
		t, err := t.complete()
		if err != nil {
			return nil, err
		}
		if _, dup := r.types[t.Name]; dup {
			return nil, fmt.Errorf("steps: type %q registered twice", t.Name)
		}
		r.types[t.Name] = t
	}
	return r, nil
}

// With returns a new registry of r's types and more; it panics when one
// is incomplete or already there (a programming error).
func (r *Registry) With(types ...Type) *Registry {
	out, err := NewRegistry(append(r.Types(), types...)...)
	if err != nil {
		panic(err)
	}
	return out
}

// builtin are the types of the steps package, each defined once in its
// own file: this list is the one place a step type is made available.
func builtin() []Type {
	return []Type{
		aclTokenType,
		bandwidthType,
		checkType,
		configEntryType,
		deleteIntentionType,
		disconnectType,
		execType,
		expectType,
		lossType,
		preparedQueryType,
		reconnectType,
		registerType,
		rotateCAType,
		runType,
		sendType,
		setIntentionType,
		sidecarType,
		startAgentType,
		stopType,
	}
}

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := NewRegistry(builtin()...)
	if err != nil {
		panic(err)
	}
	return r
})

// Default returns the registry of the built-in step types.
func Default() *Registry { return defaultRegistry() }

// Lookup finds a step type by its key.
func (r *Registry) Lookup(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Types lists the step types in name order.
func (r *Registry) Types() []Type {
	out := make([]Type, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the step type keys in name order.
func (r *Registry) Names() []string {
	var names []string
	for _, t := range r.Types() {
		names = append(names, t.Name)
	}
	return names
}
