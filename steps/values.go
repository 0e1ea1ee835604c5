package steps

// Field types of step values that know the mesh, beside those of package
// spec (Duration, Command, Pattern, Dir, File, Address): a target names a
// registered service's upstream, and what Consul's formats hold is
// Consul's to judge.

import (
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// DecodeYAML reads a target as SERVICE/UPSTREAM (which an earlier step
// must have registered) or host:port.
func (v *Target) DecodeYAML(d *spec.Decoder, n *yaml.Node, what string) {
	*v = readTarget(d, n, what)
}
func (*Target) SchemaJSON() map[string]any { return map[string]any{"type": "string"} }
func (*Target) Shape() string              { return "SERVICE/UPSTREAM|HOST:PORT" }

// ConsulObject is a mapping in one of Consul's own formats (a service
// definition, a config entry), passed on as YAML for Consul's decoder to
// judge.
type ConsulObject struct{ Node *yaml.Node }

func (v *ConsulObject) DecodeYAML(_ *spec.Decoder, n *yaml.Node, _ string) { v.Node = n }
func (*ConsulObject) SchemaJSON() map[string]any                           { return map[string]any{"type": "object"} }
func (*ConsulObject) Shape() string                                        { return "{...}" }

// ConsulObjects is a list of ConsulObject.
type ConsulObjects struct{ Node *yaml.Node }

func (v *ConsulObjects) DecodeYAML(_ *spec.Decoder, n *yaml.Node, _ string) { v.Node = n }
func (*ConsulObjects) SchemaJSON() map[string]any {
	return map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "object"}}
}
func (*ConsulObjects) Shape() string { return "[{...}, ...]" }

// deref is what p points to, or T's zero value for nil (a key left out).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
