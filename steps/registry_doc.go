package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// The registry documents itself: `scenario steps`, `scenario help TYPE`
// and docs/reference/steps.md are all rendered from it, so a step type's
// docs are its Type value and the tags of its value's Go type.

// MarkdownTable renders the table of r's step types; link turns a type's
// name into the link to its keys.
func (r *Registry) MarkdownTable(link func(name string) string) string {
	var b strings.Builder
	b.WriteString("| step | value | does | default timeout | example |\n|---|---|---|---|---|\n")
	for _, t := range r.Types() {
		value := spec.MarkdownCell(t.Fields)
		if t.Spec != nil {
			value += fmt.Sprintf(" ([keys](%s))", link(t.Name))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", t.Name, value, spec.MarkdownCell(t.Summary), t.TimeoutText(), spec.MarkdownCell(t.Example))
	}
	return b.String()
}

// MarkdownSections renders a section for each of r's step types, with the
// keys of its value.
func (r *Registry) MarkdownSections() string {
	var b strings.Builder
	for _, t := range r.Types() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\nValue: `%s`\n\n", t.Name, t.Summary, t.Fields)
		if keys := spec.Keys(t.Spec); len(keys) > 0 {
			b.WriteString(spec.MarkdownKeys(keys))
			b.WriteString("\n")
		}
		if t.OnNode {
			b.WriteString("In a scenario with nodes, the item says which node with `node:`.\n\n")
		}
		fmt.Fprintf(&b, "Default timeout: %s. Example: `%s`\n", t.TimeoutText(), spec.MarkdownCell(t.Example))
	}
	return b.String()
}

// Text describes t for a terminal: summary, value, keys and example.
func (t Type) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n    %s\n    value: %s\n", t.Name, t.Summary, t.Fields)
	for _, k := range spec.Keys(t.Spec) {
		fmt.Fprintf(&b, "      %s: %s\n", k.Key, k.Line())
	}
	fmt.Fprintf(&b, "    e.g.   %s\n", t.Example)
	return b.String()
}

// TimeoutText is t's default deadline in words.
func (t Type) TimeoutText() string {
	if t.Timeout <= 0 {
		return "the scenario's"
	}
	return RoundDuration(t.Timeout)
}

// RoundDuration prints 60s as 1m and 30s as 30s, not 1m0s.
func RoundDuration(d time.Duration) string {
	switch {
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
