package steps

// Field types of step values that decode and describe themselves (see
// Value in spec.go).

import (
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a positive Go duration such as "500ms" or "2m".
type Duration time.Duration

func (v *Duration) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = Duration(d.Duration(n, what, time.Duration(*v)))
}
func (*Duration) SchemaJSON() map[string]any { return duration() }
func (*Duration) Shape() string              { return "DURATION" }

// Command is a string run by /bin/sh -c, or a list of strings executed
// directly; either way it holds the argv.
type Command []string

func (v *Command) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = d.Command(n, what)
}
func (*Command) SchemaJSON() map[string]any { return command() }
func (*Command) Shape() string              { return "COMMAND" }

// Address is host:port, the port a number from 1 to 65535.
type Address string

func (v *Address) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = Address(d.Address(n, what))
}
func (*Address) SchemaJSON() map[string]any { return str() }
func (*Address) Shape() string              { return "HOST:PORT" }

// Pattern is a Go regular expression (RE2).
type Pattern struct{ *regexp.Regexp }

func (v *Pattern) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	v.Regexp = d.Regexp(n, what)
}
func (*Pattern) SchemaJSON() map[string]any { return str() }
func (*Pattern) Shape() string              { return "REGEXP" }

// Dir is an existing directory, relative to the scenario file's.
type Dir string

func (v *Dir) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = Dir(d.Path(n, what, true))
}
func (*Dir) SchemaJSON() map[string]any { return str() }
func (*Dir) Shape() string              { return "DIR" }

// DecodeYAML reads a target as SERVICE/UPSTREAM (which an earlier step
// must have registered) or host:port.
func (v *Target) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = d.Target(n, what)
}
func (*Target) SchemaJSON() map[string]any { return str() }
func (*Target) Shape() string              { return "SERVICE/UPSTREAM|HOST:PORT" }

// File is an existing regular file, relative to the scenario file's
// directory.
type File string

func (v *File) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = File(d.Path(n, what, false))
}
func (*File) SchemaJSON() map[string]any { return str() }
func (*File) Shape() string              { return "PATH" }

// ConsulObject is a mapping in one of Consul's own formats (a service
// definition, a config entry), passed on as YAML for Consul's decoder to
// judge.
type ConsulObject struct{ Node *yaml.Node }

func (v *ConsulObject) DecodeYAML(_ *Decoder, n *yaml.Node, _ string) { v.Node = n }
func (*ConsulObject) SchemaJSON() map[string]any                      { return object(true, nil, nil) }
func (*ConsulObject) Shape() string                                   { return "{...}" }

// ConsulObjects is a list of ConsulObject.
type ConsulObjects struct{ Node *yaml.Node }

func (v *ConsulObjects) DecodeYAML(_ *Decoder, n *yaml.Node, _ string) { v.Node = n }
func (*ConsulObjects) SchemaJSON() map[string]any {
	return map[string]any{"type": "array", "minItems": 1, "items": object(true, nil, nil)}
}
func (*ConsulObjects) Shape() string { return "[{...}, ...]" }
