package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// configEntryType is the config-entry step.
var configEntryType = Typed(Type{
	Name:    "config-entry",
	Cluster: Undone("the entry is written back as it was, or deleted when there was none"),
	Summary: "writes a Consul config entry (service-defaults, service-intentions, service-resolver, proxy-defaults, ...) " +
		"from a file (HCL or JSON) or inline, with `consul config write`, or deletes one; validate warns about entries the built-in proxy ignores",
	Example: `- config-entry: {entry: {Kind: service-defaults, Name: socat, Protocol: tcp}}`,
	Timeout: 30 * time.Second,
}, buildConfigEntry)

// ConfigEntrySpec is the value of a config-entry step; `config-entry:
// PATH` is {file: PATH}.
type ConfigEntrySpec struct {
	File   spec.File      `key:"file,shorthand" oneof:"action" doc:"a config entry file (.hcl or .json) to write"`
	Entry  ConsulEntry    `key:"entry" oneof:"action" doc:"a config entry inline, in Consul's format, to write"`
	Delete *EntryNameSpec `key:"delete" oneof:"action" doc:"the config entry to delete"`
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
	file   string          // a file to write, as given
	entry  map[string]any  // an inline entry
	typed  api.ConfigEntry // the entry as Consul decodes it; nil if it does not
	delete [2]string       // kind, name
	label  string
}

func buildConfigEntry(d *spec.Decoder, val *ConfigEntrySpec, f *spec.Fields) Step {
	v := f.At()
	d.NeedAgent(v, "config-entry")
	c := &configEntry{file: string(val.File)}
	switch {
	case val.Entry.Node != nil:
		if err := val.Entry.Node.Decode(&c.entry); err != nil || c.entry == nil {
			d.Errorf(val.Entry.Node, "config-entry.entry must be a mapping with Kind and Name: %v", err)
			return nil
		}
		// Consul reads the kind from Kind, else kind, and nothing else.
		if _, err := consuldef.EntryKind(c.entry); errors.Is(err, consuldef.ErrNoKind) {
			if k, ok := foldKey(c.entry, "Kind"); ok {
				d.Errorf(val.Entry.Node, "config-entry.entry needs Kind: Consul reads the kind from Kind or kind only, not %s", k)
			} else {
				d.Errorf(val.Entry.Node, "config-entry.entry needs Kind")
			}
		} else if err != nil {
			d.Errorf(val.Entry.Node, "config-entry.entry: Kind must be a string, like service-defaults")
		}
		if _, ok := lookupFold(c.entry, "Name"); !ok {
			d.Errorf(val.Entry.Node, "config-entry.entry needs Name")
		}
	case val.Delete != nil:
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
		kind, _ := consuldef.EntryKind(c.entry)
		name, _ := lookupFold(c.entry, "Name")
		if c.label == "" {
			c.label = fmt.Sprintf("%v %v", kind, name)
		}
		// Read into the API's type as consul config write reads it, so
		// that every spelling Consul accepts is seen; an entry it would
		// not decode is left to consul config write, which says why at
		// run time.
		if entry, err := consuldef.DecodeConfigEntry(c.entry); err == nil {
			c.typed = entry
			for _, why := range spec.EntryIgnoredByBuiltinProxy(entry) {
				d.Warnf(v, "config-entry %v %v: %s", kind, name, why)
			}
		}
		if kind == api.ServiceIntentions {
			d.ChangeIntentions()
		}
	}
	return c
}

// readEntryFile reads a config entry file as `consul config write` does
// (JSON when it starts with "{", else HCL), into a raw map.
func readEntryFile(path string) (map[string]any, error) {
	data, err := consuldef.ReadDefinition(path)
	if err != nil {
		return nil, err
	}
	return consuldef.RawConfigEntry(data)
}

// lookupFold finds key as mapstructure does when it decodes an entry:
// the exact key first, else one equal to it but for case.
func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	if k, ok := foldKey(m, key); ok {
		return m[k], true
	}
	return nil, false
}

// foldKey is the first key of m, in sorted order, equal to key but for
// case: sorted, so that the answer does not depend on Go's map order.
func foldKey(m map[string]any, key string) (string, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return "", false
}

func (c *configEntry) String() string { return c.label }

func (c *configEntry) Change() Change {
	what := c.label
	if c.typed != nil {
		what = c.typed.GetKind() + " " + c.typed.GetName()
	}
	return Change{Kind: ChangeConfigEntry, What: what}
}

func (c *configEntry) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	if env.External() {
		if err := c.undoable(ctx, env, client); err != nil {
			return err
		}
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
		// The path is relative to the scenario file's folder as validation
		// resolved it, from here; consul runs in that folder, where the
		// same relative path would name another file.
		path, err := filepath.Abs(c.file)
		if err != nil {
			return err
		}
		args = append(args, path)
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
		return WithLogs(fmt.Errorf("consul %s: %v: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(out.String())), spec.AgentName)
	}
	return nil
}

// kindName is the kind and name of the entry the step writes or deletes,
// as Consul reads them from it.
func (c *configEntry) kindName() (kind, name string, ok bool) {
	if c.delete != [2]string{} {
		return c.delete[0], c.delete[1], true
	}
	if c.entry == nil {
		return "", "", false
	}
	k, err := consuldef.EntryKind(c.entry)
	n, found := lookupFold(c.entry, "Name")
	name, isString := n.(string)
	return k, name, err == nil && found && isString
}

// undoable records, on an existing cluster, the entry as it is now, so
// that cleanup puts it back: written again as it was, or deleted when
// there was none.
func (c *configEntry) undoable(ctx context.Context, env Env, client *api.Client) error {
	kind, name, ok := c.kindName()
	if !ok {
		return fmt.Errorf("config-entry %s: the runner cannot tell which entry the file writes (its Kind and Name), so it could not put it back at the end", c.label)
	}
	old, _, err := client.ConfigEntries().Get(kind, name, (&api.QueryOptions{}).WithContext(ctx))
	var status api.StatusError
	switch {
	case errors.As(err, &status) && status.Code == http.StatusNotFound:
		env.Undo(fmt.Sprintf("config entry %s %s deleted again (it did not exist)", kind, name), func(ctx context.Context) error {
			_, err := client.ConfigEntries().Delete(kind, name, (&api.WriteOptions{}).WithContext(ctx))
			return err
		})
		return nil
	case err != nil:
		return WithLogs(fmt.Errorf("reading config entry %s %s before changing it (to restore it at the end): %w", kind, name, err), spec.AgentName)
	}
	env.Undo(fmt.Sprintf("config entry %s %s written back as it was", kind, name), func(ctx context.Context) error {
		_, _, err := client.ConfigEntries().Set(old, (&api.WriteOptions{}).WithContext(ctx))
		return err
	})
	return nil
}

// Graph draws a service-intentions entry as the intentions it makes: it
// replaces every source of its destination, so a source it no longer
// lists is drawn as deleted. An intention with L7 permissions is drawn as
// the deny the built-in proxy makes of it.
func (c *configEntry) Graph(g *Graph) {
	if c.delete[0] == api.ServiceIntentions {
		g.replaceSources(c.delete[1], nil)
		return
	}
	e, ok := c.typed.(*api.ServiceIntentionsConfigEntry)
	if !ok {
		return
	}
	sources := map[string]string{}
	for _, src := range e.Sources {
		if src == nil {
			continue // a null source (Consul decodes it as nil)
		}
		action := string(src.Action)
		if len(src.Permissions) > 0 {
			action = l7Action
		}
		sources[src.Name] = action
	}
	g.replaceSources(e.Name, sources)
}
