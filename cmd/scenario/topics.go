package main

import (
	"embed"
	"fmt"
	"reflect"
	"strings"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// A topic is a part of the file format that is neither a command nor a
// step type. `scenario help TOPIC` prints it, and
// docs/reference/file-format.md renders every topic, so that the two
// cannot say different things.
//
// A topic's text (topics/NAME.txt) is plain text that is also Markdown:
// paragraphs, "- " lists, examples indented by four spaces, code in
// backquotes. {{keys:file}}, {{keys:item}} and {{on-node}} are filled in
// from the code (see topicText).
type topic struct {
	name, summary string
}

//go:embed topics/*.txt
var topicFiles embed.FS

func topics() []topic {
	return []topic{
		{"file", "the keys of a scenario file and of a step item"},
		{"nodes", "several machines in one scenario: nodes, node:, datacenters, faults"},
		{"wire", "expect's wire: encrypted|plaintext, evidence from the cables between nodes"},
		{"anchors", "x- keys, YAML anchors and merge keys (<<) to share values"},
	}
}

func findTopic(name string) (topic, bool) {
	for _, t := range topics() {
		if t.name == name {
			return t, true
		}
	}
	return topic{}, false
}

// topicText fills in a topic's generated parts: the keys of the file and
// of an item (from scenariofile's File and ItemKeys), and the step types
// that act on one node (from the registry).
func topicText(t topic, keys func([]spec.KeyDoc) string) string {
	var onNode []string
	for _, st := range steps.Default().Types() {
		if st.OnNode {
			onNode = append(onNode, st.Name)
		}
	}
	text, err := topicFiles.ReadFile("topics/" + t.name + ".txt")
	if err != nil {
		panic(fmt.Sprintf("topic %s has no text: %v", t.name, err)) // a build without its embedded file
	}
	return strings.NewReplacer(
		"{{keys:file}}", strings.TrimRight(keys(spec.Keys(reflect.TypeOf(scenariofile.File{}))), "\n"),
		"{{keys:item}}", strings.TrimRight(keys(spec.Keys(reflect.TypeOf(scenariofile.ItemKeys{}))), "\n"),
		"{{on-node}}", strings.Join(onNode, ", "),
	).Replace(strings.TrimRight(string(text), "\n"))
}

// plainKeys lists keys for the terminal, one a line.
func plainKeys(keys []spec.KeyDoc) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %s\n", k.Key, keyLine(k))
	}
	return b.String()
}

// topicHelp is `scenario help TOPIC`.
func topicHelp(t topic) string {
	return fmt.Sprintf("%s: %s\n\n%s\n", t.name, t.summary, topicText(t, plainKeys))
}
