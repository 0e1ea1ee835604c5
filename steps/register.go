package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name:    "register",
		Summary: "registers a service (and its connect.sidecar_service) with the agent, from a Consul service-definition JSON file or inline",
		Fields:  "PATH, or {file: PATH}, or {service: {...}} in Consul's service-definition format",
		Example: `- register: ../consul.d/socat.json`,
		Timeout: 30 * time.Second,
		Decode:  decodeRegister,
		Schema:  oneOf(str(), object(false, []string{"file"}, props{"file": str()}), object(false, []string{"service"}, props{"service": object(true, []string{"name"}, nil)})),
	})
}

// KindSidecarRegistration names services registered with a sidecar_service.
const KindSidecarRegistration = "sidecar registration"

type register struct {
	source string // file path or "inline"
	svc    *api.AgentServiceRegistration
}

func decodeRegister(d *Decoder, v *yaml.Node) Step {
	d.NeedAgent(v, "register")
	v = resolve(v)
	var (
		data   []byte
		source string
		errAt  = v
	)
	if v.Kind == yaml.ScalarNode {
		source = d.Path(v, "register", false)
	} else {
		f := d.Fields(v, "register", "file", "service")
		switch {
		case !f.OK:
			return nil
		case f.Has("file") == f.Has("service"):
			d.Errorf(v, "register needs exactly one of file (a service-definition JSON file) or service (the definition inline)")
			return nil
		case f.Has("file"):
			errAt = f.Node("file")
			source = d.Path(errAt, "register.file", false)
		default:
			errAt = f.Node("service")
			budget := maxInlineNodes
			generic, err := yamlToGeneric(errAt, 0, &budget)
			if err != nil {
				d.Errorf(errAt, "register.service: %v", err)
				return nil
			}
			data, _ = json.Marshal(map[string]any{"service": generic})
			source = "inline"
		}
	}
	if source == "" {
		return nil
	}
	if data == nil {
		var err error
		if data, err = os.ReadFile(source); err != nil {
			d.Errorf(errAt, "register: %v", err)
			return nil
		}
	}
	svc, err := ParseServiceDefinition(data)
	if err != nil {
		where := ""
		var je *jsonError
		if errors.As(err, &je) && source != "inline" {
			where = fmt.Sprintf("%s:%d:%d: ", source, je.line, je.col)
		}
		d.Errorf(errAt, "register: %s%v", where, err)
		return nil
	}
	d.Define(KindService, svc.Name, errAt)
	if svc.Connect != nil && svc.Connect.SidecarService != nil {
		d.Define(KindSidecarRegistration, svc.Name, errAt)
		if p := svc.Connect.SidecarService.Proxy; p != nil {
			for _, u := range p.Upstreams {
				d.Define(KindUpstream, svc.Name+"/"+u.DestinationName, errAt)
			}
		}
	}
	return &register{source: source, svc: svc}
}

func (r *register) String() string {
	if r.source == "inline" {
		return "service " + r.svc.Name
	}
	return fmt.Sprintf("service %s from %s", r.svc.Name, r.source)
}

func (r *register) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	opts := api.ServiceRegisterOpts{}.WithContext(ctx)
	if err := client.Agent().ServiceRegisterOpts(r.svc, opts); err != nil {
		return WithLogs(fmt.Errorf("registering %s: %w", r.svc.Name, err), AgentName)
	}
	return nil
}

type jsonError struct {
	line, col int
	msg       string
}

func (e *jsonError) Error() string { return e.msg }

// ParseServiceDefinition reads {"service": {...}} as Consul's agent config
// files spell it (snake_case keys) into the API's registration type, and
// refuses keys Consul would not know.
func ParseServiceDefinition(data []byte) (*api.AgentServiceRegistration, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonPosError(data, err)
	}
	raw, ok := doc["service"]
	if !ok || len(doc) != 1 {
		return nil, &jsonError{1, 1, `a service definition is one object {"service": {...}}`}
	}
	translated, _ := json.Marshal(canonicalKeys(raw, ""))
	dec := json.NewDecoder(bytes.NewReader(translated))
	dec.DisallowUnknownFields()
	var svc api.AgentServiceRegistration
	if err := dec.Decode(&svc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		line, col := 1, 1
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// Offsets point into the translated text; find the key instead.
			path := strings.Split(te.Field, ".")
			line, col = findKey(data, path[len(path)-1])
			msg = fmt.Sprintf("%s: expected %s, got %s", strings.ToLower(te.Field), te.Type, te.Value)
		}
		if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
			line, col = findKey(data, strings.Trim(field, `"`))
			msg = "unknown key " + field + " in the service definition"
		}
		return nil, &jsonError{line, col, msg}
	}
	if svc.Name == "" {
		return nil, &jsonError{1, 1, `the service definition has no "name"`}
	}
	return &svc, nil
}

// canonicalKeys turns Consul's config-file keys (local_bind_port) into the
// API's (LocalBindPort) by dropping underscores: encoding/json matches
// field names case-insensitively. Free-form maps keep their keys.
func canonicalKeys(v any, parent string) any {
	switch t := v.(type) {
	case map[string]any:
		free := parent == "meta" || parent == "config" || parent == "taggedaddresses"
		out := make(map[string]any, len(t))
		for k, val := range t {
			key := k
			if !free {
				key = strings.ReplaceAll(k, "_", "")
			}
			out[key] = canonicalKeys(val, strings.ToLower(key))
		}
		return out
	case []any:
		for i := range t {
			t[i] = canonicalKeys(t[i], "")
		}
	}
	return v
}

func jsonPosError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(0)
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offending byte is the last one read
	case errors.As(err, &te):
		off = te.Offset
	}
	line, col := lineCol(data, int(off))
	return &jsonError{line, col, strings.TrimPrefix(err.Error(), "json: ")}
}

func lineCol(data []byte, off int) (int, int) {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// findKey locates a key in the original text, whatever its spelling.
func findKey(data []byte, canonical string) (int, int) {
	lower := bytes.ToLower(data)
	for i := 0; i < len(lower); i++ {
		if lower[i] != '"' {
			continue
		}
		end := bytes.IndexByte(lower[i+1:], '"')
		if end < 0 {
			break
		}
		key := strings.ReplaceAll(string(lower[i+1:i+1+end]), "_", "")
		if key == strings.ToLower(canonical) {
			return lineCol(data, i)
		}
		i += end + 1
	}
	return 1, 1
}

// maxInlineNodes bounds an inline service definition once YAML aliases
// are expanded, so that an alias bomb is refused instead of expanded.
const maxInlineNodes = 10000

// yamlToGeneric converts a YAML value to plain Go values for JSON. Depth and
// size are bounded so that a hostile file cannot exhaust the stack or memory.
func yamlToGeneric(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > 64 {
		return nil, errors.New("nested too deeply")
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values once aliases are expanded", maxInlineNodes)
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := yamlToGeneric(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		var l []any
		for _, c := range n.Content {
			v, err := yamlToGeneric(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
