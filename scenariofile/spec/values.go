package spec

// Field types of step values that decode and describe themselves (see
// Value), for any step type: what they check needs only the file and the
// machine. Types that know the mesh (a SERVICE/UPSTREAM target, an
// address whose mistake names an upstream) are the steps package's.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/suggest"
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

// File is an existing regular file, relative to the scenario file's
// directory.
type File string

func (v *File) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = File(d.Path(n, what, false))
}
func (*File) SchemaJSON() map[string]any { return str() }
func (*File) Shape() string              { return "PATH" }

// The readers behind the value types, also used by steps whose values
// are read by hand (a shorthand, a form-dependent key).

// Duration reads n as a positive Go duration such as "500ms" or "2m".
func (d *Decoder) Duration(n *yaml.Node, what string, def time.Duration) time.Duration {
	s, ok := d.String(n, what)
	if !ok {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Errorf(n, "%s: %q is not a duration; write it like 500ms, 5s or 2m", what, s)
		return def
	}
	if v <= 0 {
		d.Errorf(n, "%s must be positive, not %s", what, s)
		return def
	}
	return v
}

// String reads n as a scalar string. Numbers and booleans are refused so
// that `data: 1` does not silently become "1".
func (d *Decoder) String(n *yaml.Node, what string) (string, bool) {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0) {
		d.Errorf(n, "%s must be a string, not %s", what, Describe(n))
		return "", false
	}
	return n.Value, true
}

// Command reads a command: a string run by /bin/sh -c, or a list of
// strings executed directly.
func (d *Decoder) Command(n *yaml.Node, what string) []string {
	n = Resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		s, ok := d.String(n, what)
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			d.Errorf(n, "%s is empty", what)
			return nil
		}
		return []string{"/bin/sh", "-c", s}
	case yaml.SequenceNode:
		var argv []string
		for _, item := range n.Content {
			s, ok := d.String(item, what+" item")
			if ok {
				argv = append(argv, s)
			}
		}
		if len(n.Content) == 0 {
			d.Errorf(n, "%s is an empty list", what)
		}
		return argv
	}
	d.Errorf(n, "%s must be a string (run by /bin/sh -c) or a list of strings, not %s", what, Describe(n))
	return nil
}

// Path reads n as a path relative to the scenario file and checks that it
// exists (a directory when dir is set, a file otherwise).
func (d *Decoder) Path(n *yaml.Node, what string, dir bool) string {
	s, ok := d.String(n, what)
	if !ok {
		return ""
	}
	p := s
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.Dir, p)
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		d.Errorf(n, "%s: %s does not exist (paths are relative to the scenario file's directory %s)", what, p, d.Dir)
		return ""
	case dir && !st.IsDir():
		d.Errorf(n, "%s: %s is not a directory", what, p)
	case !dir && st.IsDir():
		d.Errorf(n, "%s: %s is a directory, not a file", what, p)
	case !dir && !st.Mode().IsRegular():
		// A FIFO would block validation, a device never end.
		d.Errorf(n, "%s: %s is not a regular file (a named pipe, device or socket); give a file", what, p)
		return ""
	}
	return p
}

// Regexp reads n as a regular expression.
func (d *Decoder) Regexp(n *yaml.Node, what string) *regexp.Regexp {
	s, ok := d.String(n, what)
	if !ok {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.Errorf(n, "%s: %v", what, err)
	}
	return re
}

// OneOf reads n as one of the allowed words.
func (d *Decoder) OneOf(n *yaml.Node, what string, allowed ...string) string {
	s, ok := d.String(n, what)
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, s) {
		msg := fmt.Sprintf("%s: %q is not one of %s", what, s, strings.Join(allowed, ", "))
		if g := suggest.Closest(s, allowed); g != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", g)
		}
		d.Errorf(n, "%s", msg)
		return ""
	}
	return s
}

// Address is host:port, the port a number from 1 to 65535.
type Address string

func (v *Address) DecodeYAML(d *Decoder, n *yaml.Node, what string) {
	*v = Address(d.Address(n, what))
}
func (*Address) SchemaJSON() map[string]any { return map[string]any{"type": "string"} }
func (*Address) Shape() string              { return "HOST:PORT" }

// Address reads n as host:port. A port that is not a number, after the
// name of a registered service, is probably SERVICE/UPSTREAM mistyped.
func (d *Decoder) Address(n *yaml.Node, what string) string {
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
		if d.Defined(KindService, host) {
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
