// Package steps holds the scenario step types. Each type lives in one file,
// decodes its own YAML strictly and registers itself in init; the registry
// is the single source for decoding, validation and the help text.
package steps

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// Step is one decoded, validated step, ready to run.
type Step interface {
	// Run performs the step. ctx carries the step's deadline.
	Run(ctx context.Context, env Env) error
	// String is the step's label in output: what it does, in a few words.
	String() string
}

// Starter is a step that starts something and lets the runner await its
// readiness later. When Independent, the start depends on nothing that an
// earlier, still pending step provides, so the runner starts it at once and
// the readiness waits overlap; otherwise earlier pending steps are settled
// first.
type Starter interface {
	Step
	Start(ctx context.Context, env Env) (ready func(ctx context.Context) error, err error)
	Independent() bool
}

// Type describes a step type: how to decode it and how to explain it.
type Type struct {
	Name    string
	Summary string // one line: what the step does
	Fields  string // the value's shape, e.g. "{name, command, ready}"
	Example string // a one-line YAML example of a whole step item
	// OnNode marks a step that acts on one node (it starts a process there
	// or talks to that node's own agent): in a scenario with nodes, its
	// item must say which with `node:`.
	OnNode bool
	// Timeout is the step's default deadline when the item sets none.
	Timeout time.Duration
	// Schema is the JSON Schema of the step's value, for editors and for
	// `scenario schema`; Decode stays the judge of what is valid.
	Schema map[string]any
	// Decode reads the step's value. It reports problems through d and may
	// return nil when it did.
	Decode func(d *Decoder, value *yaml.Node) Step
}

var registry = map[string]Type{}

// Register adds a step type; it is meant to be called from init.
func Register(t Type) {
	if _, dup := registry[t.Name]; dup {
		panic(fmt.Sprintf("steps: type %q registered twice", t.Name))
	}
	if t.Decode == nil || t.Summary == "" || t.Example == "" || t.Schema == nil {
		panic(fmt.Sprintf("steps: type %q needs Decode, Summary, Example and Schema", t.Name))
	}
	registry[t.Name] = t
}

// Lookup finds a registered step type by its key.
func Lookup(name string) (Type, bool) {
	t, ok := registry[name]
	return t, ok
}

// Types lists the registered step types in name order.
func Types() []Type {
	out := make([]Type, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the registered step type keys in name order.
func Names() []string {
	var names []string
	for _, t := range Types() {
		names = append(names, t.Name)
	}
	return names
}
