package steps

// Field types of step values that know the mesh, beside the generic ones
// of package spec (Duration, Command, Pattern, Dir, File): an address's
// mistake may name a registered service's upstream, and a target may
// name one.

import (
	"fmt"
	"net"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// Address is host:port, the port a number from 1 to 65535.
type Address string

func (v *Address) DecodeYAML(d *spec.Decoder, n *yaml.Node, what string) {
	*v = Address(readAddress(d, n, what))
}
func (*Address) SchemaJSON() map[string]any { return map[string]any{"type": "string"} }
func (*Address) Shape() string              { return "HOST:PORT" }

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

// readAddress reads n as host:port.
func readAddress(d *spec.Decoder, n *yaml.Node, what string) string {
	s, ok := d.String(n, what)
	if !ok {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		d.Errorf(n, "%s: %q is not host:port (for example 127.0.0.1:8181)", what, s)
		return ""
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		msg := fmt.Sprintf("%s: %q is not host:port: the port %q is not a number from 1 to 65535", what, s, port)
		if d.Defined(spec.KindService, host) {
			msg += fmt.Sprintf(" (did you mean %s/%s, the upstream %s of %s?)", host, port, port, host)
		}
		d.Errorf(n, "%s", msg)
		return ""
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		d.Errorf(n, "%s: %q is not host:port: %q is neither an IP address nor a host name", what, s, host)
		return ""
	}
	return s
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?$`)

func validHostname(h string) bool { return len(h) <= 253 && hostnameRE.MatchString(h) }

// deref is what p points to, or T's zero value for nil (a key left out).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
