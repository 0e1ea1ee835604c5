package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

func init() {
	Register(Typed(Type{
		Name: "config-entry",
		Summary: "writes a Consul config entry (service-defaults, service-intentions, service-resolver, proxy-defaults, ...) " +
			"from a file (HCL or JSON) or inline, with `consul config write`, or deletes one; validate warns about entries the built-in proxy ignores",
		Example: `- config-entry: {entry: {Kind: service-defaults, Name: socat, Protocol: tcp}}`,
		Timeout: 30 * time.Second,
	}, buildConfigEntry))
}

// ConfigEntrySpec is the value of a config-entry step; `config-entry:
// PATH` is {file: PATH}.
type ConfigEntrySpec struct {
	File   spec.File     `key:"file,shorthand" oneof:"action" doc:"a config entry file (.hcl or .json) to write"`
	Entry  ConsulEntry   `key:"entry" oneof:"action" doc:"a config entry inline, in Consul's format, to write"`
	Delete EntryNameSpec `key:"delete" oneof:"action" doc:"the config entry to delete"`
}

// EntryNameSpec names a config entry.
type EntryNameSpec struct {
	Kind string `key:"kind,required" shape:"KIND" doc:"the entry's kind, like service-defaults"`
	Name string `key:"name,required" shape:"NAME" doc:"the entry's name"`
}

// ConsulEntry is a config entry inline: a mapping with Kind and Name, in
// Consul's format, which Consul judges.
type ConsulEntry struct{ Node *yaml.Node }

func (v *ConsulEntry) DecodeYAML(_ *spec.Decoder, n *yaml.Node, _ string) { v.Node = n }
func (*ConsulEntry) SchemaJSON() map[string]any {
	return map[string]any{"type": "object", "required": []string{"Kind", "Name"}}
}
func (*ConsulEntry) Shape() string { return "{Kind, Name, ...}" }

type configEntry struct {
	file   string         // a file to write, as given
	entry  map[string]any // an inline entry
	delete [2]string      // kind, name
	label  string
}

func buildConfigEntry(d *spec.Decoder, val *ConfigEntrySpec, f *spec.Fields) Step {
	v := f.At()
	needAgent(d, v, "config-entry")
	c := &configEntry{file: string(val.File)}
	switch {
	case f.Has("entry"):
		if err := val.Entry.Node.Decode(&c.entry); err != nil || c.entry == nil {
			d.Errorf(f.Node("entry"), "config-entry.entry must be a mapping with Kind and Name: %v", err)
			return nil
		}
		for _, k := range []string{"Kind", "Name"} {
			if _, ok := lookupFold(c.entry, k); !ok {
				d.Errorf(f.Node("entry"), "config-entry.entry needs %s", k)
			}
		}
	case f.Has("delete"):
		c.delete = [2]string{val.Delete.Kind, val.Delete.Name}
		c.label = fmt.Sprintf("delete %s %s", c.delete[0], c.delete[1])
		return c
	}
	if c.file != "" {
		c.label = filepath.Base(c.file)
		if raw, err := readEntryFile(c.file); err == nil {
			c.entry = raw
		}
	}
	if c.entry != nil {
		kind, _ := lookupFold(c.entry, "Kind")
		name, _ := lookupFold(c.entry, "Name")
		if c.label == "" {
			c.label = fmt.Sprintf("%v %v", kind, name)
		}
		if why := ignoredByBuiltinProxy(c.entry); why != "" {
			d.Warnf(v, "config-entry %v %v: %s", kind, name, why)
		}
		if fmt.Sprint(kind) == "service-intentions" {
			bookOf(d).intentionChanged = true
		}
	}
	return c
}

// readEntryFile reads a config entry file as `consul config write` does:
// JSON, or else HCL.
func readEntryFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if json.Unmarshal(data, &m) == nil {
		return m, nil
	}
	err = hcl.Decode(&m, string(data))
	return m, err
}

func lookupFold(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(strings.ReplaceAll(k, "_", ""), key) {
			return v, true
		}
	}
	return nil, false
}

// ignoredByBuiltinProxy says what of an entry the built-in proxy does not
// do, or "": measured with Consul 1.15.4, resolver, router and splitter
// entries are ignored and any intention with permissions (L7) denies.
func ignoredByBuiltinProxy(entry map[string]any) string {
	kind, _ := lookupFold(entry, "Kind")
	switch fmt.Sprint(kind) {
	case "service-resolver", "service-router", "service-splitter":
		return fmt.Sprintf("the built-in proxy ignores %s entries (they are Envoy-only): traffic goes on to the service itself", kind)
	case "service-intentions":
		sources, _ := lookupFold(entry, "Sources")
		list, _ := sources.([]any)
		for _, s := range list {
			if src, ok := s.(map[string]any); ok {
				if perms, ok := lookupFold(src, "Permissions"); ok && perms != nil {
					return "the built-in proxy treats any intention with Permissions (L7) as a deny, even one that allows everything"
				}
			}
		}
	}
	return ""
}

func (c *configEntry) String() string { return c.label }

func (c *configEntry) Run(ctx context.Context, env Env) error {
	if _, err := env.Consul(); err != nil {
		return err
	}
	bin, err := env.ConsulBinary()
	if err != nil {
		return err
	}
	args := []string{"config", "write", "-http-addr", env.AgentAddress()}
	switch {
	case c.delete != [2]string{}:
		args = []string{"config", "delete", "-http-addr", env.AgentAddress(), "-kind", c.delete[0], "-name", c.delete[1]}
	case c.file != "":
		args = append(args, c.file)
	default:
		// Consul reads the inline entry from a file, as any other.
		data, err := json.Marshal(c.entry)
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp("", "scenario-config-entry-*.json")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			return err
		}
		tmp.Close()
		args = append(args, tmp.Name())
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	// As the runner, with the agent's token, whatever the caller's
	// environment says.
	cmd.Dir, cmd.Env = env.ConsulEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// On a node, consul reaches the node's agent from inside it.
	err = env.Inside(cmd.Start)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return WithLogs(fmt.Errorf("consul %s: %v: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(out.String())), AgentName)
	}
	return nil
}
