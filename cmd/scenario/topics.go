package main

import (
	"embed"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/scenario-tool/scenario/internal/suggest"
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
		fmt.Fprintf(&b, "    %s: %s\n", k.Key, k.Line())
	}
	return b.String()
}

// topicHelp is `scenario help TOPIC`.
func topicHelp(t topic) string {
	return fmt.Sprintf("%s: %s\n\n%s\n", t.name, t.summary, topicText(t, plainKeys))
}

// unknownHelp is what `scenario help WORD` says when WORD is neither a
// command, a step type nor a topic: where its help is, when WORD names a
// key of a step type or of the file, is part of step types' names, or is
// a misspelt name; and where the lists are, not the whole usage.
func unknownHelp(word string) string {
	var seen []string
	var see []string
	add := func(name, why string) {
		if !slices.Contains(seen, name) {
			seen = append(seen, name)
			see = append(see, "scenario help "+name+why)
		}
	}
	low := strings.ToLower(word)
	stem := strings.TrimSuffix(low, "s") // intentions -> intention
	registry := steps.Default()
	// A key of a step type (health: is expect's) or of the file.
	for _, t := range registry.Types() {
		for _, k := range spec.Keys(t.Spec) {
			if k.Key == low || k.Key == stem {
				add(t.Name, fmt.Sprintf(" (its %s: key)", k.Key))
			}
		}
	}
	for _, k := range spec.Keys(reflect.TypeOf(scenariofile.File{})) {
		if k.Key == low || k.Key == stem {
			add("file", fmt.Sprintf(" (the file's %s: key)", k.Key))
		}
	}
	for _, k := range spec.Keys(reflect.TypeOf(scenariofile.ItemKeys{})) {
		if k.Key == low || k.Key == stem {
			add("file", fmt.Sprintf(" (a step item's %s: key)", k.Key))
		}
	}
	// A topic about it: datacenters -> nodes.
	for _, t := range topics() {
		if slices.ContainsFunc(strings.FieldsFunc(t.summary, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }),
			func(w string) bool { return w == low || w == stem }) {
			add(t.name, " (a topic)")
		}
	}
	// Step types named after it: intentions -> set-intention.
	if len(stem) >= 3 {
		for _, name := range registry.Names() {
			if slices.Contains(strings.Split(name, "-"), stem) {
				add(name, "")
			}
		}
	}
	// A misspelt name.
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	for _, t := range topics() {
		names = append(names, t.name)
	}
	names = append(names, registry.Names()...)
	if len(see) == 0 {
		if g := suggest.Closest(word, names); g != "" {
			add(g, "")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario help: %q is neither a command, a step type nor a topic", word)
	if len(see) > 0 {
		fmt.Fprintf(&b, "; see %s", strings.Join(see, ", "))
	}
	b.WriteString("\n(scenario help lists the commands and topics, scenario steps the step types)\n")
	return b.String()
}
