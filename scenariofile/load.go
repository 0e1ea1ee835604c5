// Package scenariofile is the scenario file format: YAML in, a typed,
// positioned, validated Scenario out, through one door, Load. The keys of
// the file and of each step item are Go structs here (File, ItemKeys);
// each step type's value is its own struct in package steps; all of them
// are decoded and checked by package spec, validation's one home (the
// decoder, the book of what earlier steps defined, the warnings, the
// topology checks), which also generates their schema and docs.
package scenariofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/internal/suggest"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// Scenario is a loaded, validated scenario file.
type Scenario struct {
	File        string
	Name        string
	Description string
	Timeout     time.Duration
	Items       []Item
	// Nodes are the machines of a topology scenario (top-level `nodes`),
	// each a network namespace of its own; none means the host.
	Nodes []string
	// Cluster is who runs which agent on the nodes.
	Cluster spec.Cluster
	// Warnings are legal but suspicious things, as file:line:col errors.
	Warnings []error
}

// Item is one step of a scenario with its common keys.
type Item struct {
	Index   int    // from 0
	Type    string // the step-type key
	Label   string // the item's name, or what the step says it does
	Timeout time.Duration
	Node    string // the node the step acts on (`node:`), or ""
	Pos     spec.Pos
	Step    steps.Step
	// Cluster is what the step does to the cluster it runs against (its
	// type's), which decides what the runner does under --agent.
	Cluster steps.ClusterEffect
}

// DefaultScenarioTimeout bounds a whole scenario that sets no timeout.
const DefaultScenarioTimeout = 10 * time.Minute

// MaxFileSize bounds what Load reads: a scenario is a page of YAML.
const MaxFileSize = 1 << 20

// File is the top level of a scenario file. A new top-level key is a
// field here (and, if the runner needs it, a line in Parse copying it
// into Scenario); the decoder, the schema and the docs follow.
type File struct {
	Name        string        `key:"name" doc:"the scenario's name in reports and its log folder (default: the file name)"`
	Description string        `key:"description" doc:"what the scenario shows, for list"`
	Timeout     spec.Duration `key:"timeout" default:"10m" doc:"bounds the whole scenario"`
	Nodes       *yaml.Node    `key:"nodes" shape:"[NODE, ...]" doc:"the machines of a topology: each a network namespace of its own, node i at 10.77.0.(i+1); steps say which they act on with node:"`
	Steps       *yaml.Node    `key:"steps,required" shape:"[STEP-ITEM, ...]" doc:"the steps, in order: each a list item with one step-type key and the item keys"`
}

// ItemKeys are the keys a step item may have beside its step-type key. A
// new one is a field here and a line in applyItemKeys; the decoder, the
// schema and the docs follow.
type ItemKeys struct {
	Name    string         `key:"name" doc:"the step's label in the output"`
	Timeout *spec.Duration `key:"timeout" doc:"the step's deadline (each step type has a default)"`
	Node    string         `key:"node" shape:"NODE" doc:"the node the step acts on, one of the scenario's nodes (process steps and a node's own agent's steps must say it)"`
}

// applyItemKeys puts an item's decoded common keys into it.
func applyItemKeys(k ItemKeys, it *Item) {
	it.Label = k.Name
	if k.Timeout != nil && *k.Timeout > 0 {
		it.Timeout = time.Duration(*k.Timeout)
	}
}

// itemKeyNames lists ItemKeys' keys, for telling them from step types.
var itemKeyNames = func() []string {
	var names []string
	for _, k := range spec.Keys(reflectTypeOf[ItemKeys]()) {
		names = append(names, k.Key)
	}
	return names
}()

// Option changes how a scenario is read.
type Option func(*spec.Decoder)

// AgainstExistingCluster reads a scenario meant for `run --agent`: the
// agent, services and sidecars it refers to are the cluster's, not made
// by earlier steps, so they are checked when it runs. A step that would
// change the cluster is refused unless allowWrites (--allow-writes), and a
// step that needs the scenario's own cluster is refused always, each at
// its file:line:col, before anything runs.
func AgainstExistingCluster(allowWrites bool) Option {
	return func(d *spec.Decoder) { d.External, d.AllowWrites = true, allowWrites }
}

// JudgedBy makes judge (`consul validate`) the last word on the Consul
// definitions the scenario refers to.
func JudgedBy(judge consuldef.ConsulJudge) Option {
	return func(d *spec.Decoder) { d.JudgeWith(judge) }
}

// Load reads and validates the scenario at path against the step types of
// reg. Every problem found is returned at once, as a *multierror.Error of
// *spec.Error, each at its file:line:col.
func Load(path string, reg *steps.Registry, opts ...Option) (*Scenario, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, &spec.Error{Pos: spec.Pos{File: path, Line: 1, Col: 1}, Msg: err.Error()}
	}
	return Parse(path, data, reg, opts...)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the scenario: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("the file is larger than %d KiB; is it really a scenario?", MaxFileSize>>10)
	}
	return data, nil
}

// Parse validates a scenario from data; path names it in messages and
// anchors relative paths.
func Parse(path string, data []byte, reg *steps.Registry, opts ...Option) (*Scenario, error) {
	d := spec.NewDecoder(path)
	for _, o := range opts {
		o(d)
	}
	root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	sc := &Scenario{File: path, Timeout: DefaultScenarioTimeout}
	d.SetRoot(root)
	d.Scope(root)
	var top File
	d.Decode(withoutExtensions(root), "a scenario", &top)
	sc.Name, sc.Description = top.Name, top.Description
	if top.Timeout > 0 {
		sc.Timeout = time.Duration(top.Timeout)
	}
	if top.Nodes != nil {
		if d.External {
			d.Errorf(top.Nodes, "the scenario has nodes of its own; --agent runs scenarios against an existing cluster")
		}
		sc.Nodes = d.DecodeNodes(top.Nodes)
	}
	if top.Steps != nil {
		sc.Items = decodeItems(d, reg, top.Steps)
		sc.Cluster = d.Cluster()
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if errs := d.Errors(); len(errs) > 0 {
		return nil, &multierror.Error{Errors: errs, ErrorFormat: listErrors}
	}
	sc.Warnings = d.Warnings()
	return sc, nil
}

// withoutExtensions drops top-level keys that start with "x-": they hold
// YAML anchors for steps to share (as in Compose files) and are not read.
func withoutExtensions(root *yaml.Node) *yaml.Node {
	if root.Kind != yaml.MappingNode {
		return root
	}
	kept := *root
	kept.Content = nil
	for _, kv := range spec.MappingPairs(root) {
		if !strings.HasPrefix(kv[0].Value, "x-") {
			kept.Content = append(kept.Content, kv[0], kv[1])
		}
	}
	return &kept
}

func listErrors(errs []error) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses the file into yaml.v3's tree, whose nodes carry every
// later position. A syntax error has no tree: yaml.v3 gives only text
// ("yaml: line N: ..."), so its line is read from that text and refined
// by problemPosition.
func parseYAML(path string, data []byte) (*yaml.Node, error) {
	atCol := func(line, col int, msg string) error {
		return &multierror.Error{Errors: []error{&spec.Error{Pos: spec.Pos{File: path, Line: line, Col: col}, Msg: msg}}, ErrorFormat: listErrors}
	}
	at := func(line int, msg string) error { return atCol(line, 1, msg) }
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, at(1, "the file holds binary data (a NUL byte), not YAML")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, at(1, "the file is empty; a scenario needs at least steps")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		line, col := problemPosition(data, line)
		return nil, atCol(line, col, "invalid YAML: "+msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, at(extra.Line, "a second YAML document (---); a scenario file holds one")
	}
	if len(doc.Content) == 0 {
		return nil, at(1, "the file is empty; a scenario needs at least steps")
	}
	return doc.Content[0], nil
}

// problemPosition finds where a YAML syntax error is. yaml.v3 reports the
// line where the enclosing block starts, which can be far above the
// mistake; the shortest prefix of the file (in whole lines) that fails to
// parse ends on the line that broke it. A binary search keeps this to a
// few parses; files past 64 KiB keep yaml's line.
func problemPosition(data []byte, reported int) (line, col int) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	line = reported
	if len(data) <= 64<<10 {
		ends := make([]int, len(lines))
		end := 0
		for i, l := range lines {
			end += len(l)
			ends[i] = end
		}
		fails := func(i int) bool {
			var n yaml.Node
			return yaml.Unmarshal(data[:ends[i]], &n) != nil
		}
		lo, hi := 0, len(lines)-1 // the whole file fails
		for lo < hi {
			mid := (lo + hi) / 2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo + 1
	}
	if line < 1 || line > len(lines) {
		return max(line, 1), 1
	}
	text := lines[line-1]
	return line, len(text) - len(bytes.TrimLeft(text, " ")) + 1
}

func decodeItems(d *spec.Decoder, reg *steps.Registry, n *yaml.Node) []Item {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "steps must be a list of steps, each like `- start-agent: {}`")
		return nil
	}
	if len(n.Content) == 0 {
		d.Errorf(n, "steps is empty; a scenario needs at least one step")
	}
	names := reg.Names()
	var items []Item
	for i, itemNode := range n.Content {
		d.BeginStep(i)
		d.Scope(itemNode)
		if itemNode.Kind == yaml.AliasNode {
			itemNode = itemNode.Alias
		}
		if itemNode.Kind != yaml.MappingNode {
			d.Errorf(itemNode, "step %d must be a mapping with one step type (%s), not %s", i+1, strings.Join(names, ", "), kindName(itemNode))
			continue
		}
		var typeKey, valueNode *yaml.Node
		var extra []*yaml.Node
		unknown := false
		common := &yaml.Node{Kind: yaml.MappingNode, Line: itemNode.Line, Column: itemNode.Column}
		seen := map[string]bool{}
		for _, kv := range spec.MappingPairs(itemNode) {
			k, v := kv[0], kv[1]
			_, isType := reg.Lookup(k.Value)
			switch {
			case isItemKey(k.Value):
				if seen[k.Value] {
					d.Errorf(k, "step %d: key %q appears twice", i+1, k.Value)
					continue
				}
				seen[k.Value] = true
				common.Content = append(common.Content, k, v)
			case isType:
				if typeKey == nil {
					typeKey, valueNode = k, v
				} else {
					extra = append(extra, k)
				}
			default:
				unknown = true
				msg := fmt.Sprintf("unknown step type %q", k.Value)
				if s := suggest.Closest(k.Value, append(append([]string{}, names...), itemKeyNames...)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				d.Errorf(k, "%s; step types: %s; common keys: %s", msg, strings.Join(names, ", "), strings.Join(itemKeyNames, ", "))
			}
		}
		for _, k := range extra {
			d.Errorf(k, "step %d has two step types, %q and %q; one step per list item: start a new item with `- %s:`", i+1, typeKey.Value, k.Value, k.Value)
		}
		if typeKey == nil {
			if unknown {
				continue
			}
			d.Errorf(itemNode, "step %d has no step type; give it one of: %s", i+1, strings.Join(names, ", "))
			continue
		}
		t, _ := reg.Lookup(typeKey.Value)
		d.StepType(t.Name, typeKey)
		item := Item{Index: i, Type: t.Name, Timeout: t.Timeout, Pos: d.Pos(typeKey), Cluster: t.Cluster}
		if d.External {
			if why := t.Cluster.RefusedOnExistingCluster(d.AllowWrites); why != "" {
				d.Errorf(typeKey, "step %d (%s) %s", i+1, t.Name, why)
			}
		}
		var keys ItemKeys
		keyFields, _ := d.Decode(common, "", &keys)
		applyItemKeys(keys, &item)
		var nodeAt *yaml.Node
		if keyFields != nil {
			nodeAt = keyFields.NodeOf(&keys.Node)
		}
		item.Node = d.ItemNode(nodeAt, keys.Node, t.OnNode)
		d.BeginNode(item.Node)
		item.Step = t.Decode(d, valueNode)
		if item.Step != nil && item.Label == "" {
			item.Label = item.Step.String()
		}
		items = append(items, item)
	}
	return items
}

func isItemKey(key string) bool {
	for _, k := range itemKeyNames {
		if k == key {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "an empty item"
		}
		return fmt.Sprintf("a plain value (%q)", n.Value)
	}
	return "a value"
}
