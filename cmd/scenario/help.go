package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/scenario-tool/scenario/internal/suggest"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// dashed spells a flag as the help shows it: -o for a one-letter name,
// --name for the others (the flag package takes either).
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// hiddenFlags are internal: defined, but never shown or completed.
// --in-netns is how a parallel run starts its children.
// --deadline passes its --timeout on to them.
var hiddenFlags = map[string]bool{"in-netns": true, "deadline": true}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage() string {
	var b strings.Builder
	b.WriteString("scenario runs YAML scenarios against a real Consul Connect service mesh.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  scenario %-10s %-22s %s\n", c.name, c.args, c.summary)
	}
	var names []string
	for _, t := range topics() {
		names = append(names, t.name)
	}
	b.WriteString("\n" + wrap("scenario help COMMAND (or scenario COMMAND --help) shows a command's flags; "+
		"scenario help STEP (or scenario steps STEP), a step type's keys, like scenario help expect; "+
		"scenario help TOPIC, a part of the file format: "+strings.Join(names, ", ")+
		". scenario --version is scenario version.", 78))
	b.WriteString("\n" + exitSummary())
	return b.String()
}

// commandHelp is a command's own help: usage, what it does, its public
// flags with their defaults.
func commandHelp(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: scenario %s %s\n\n", c.name, c.args)
	b.WriteString(strings.ToUpper(c.summary[:1]) + c.summary[1:] + ".\n")
	if c.detail != "" {
		b.WriteString("\n" + c.detail + "\n")
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	var lines [][2]string
	fs.VisitAll(func(f *flag.Flag) {
		if hiddenFlags[f.Name] {
			return
		}
		placeholder, text := flag.UnquoteUsage(f)
		left := dashed(f.Name)
		if placeholder != "" {
			left += " " + strings.ToUpper(placeholder)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			text += " (default " + f.DefValue + ")"
		}
		lines = append(lines, [2]string{left, text})
	})
	if len(lines) > 0 {
		b.WriteString("\nFlags:\n")
		width := 0
		for _, l := range lines {
			width = max(width, len(l[0]))
		}
		for _, l := range lines {
			text := strings.ReplaceAll(l[1], "\n", "\n"+strings.Repeat(" ", width+4))
			fmt.Fprintf(&b, "  %-*s  %s\n", width, l[0], text)
		}
	}
	if _, isStep := steps.Default().Lookup(c.name); isStep {
		// run and exec are both: help NAME shows the command, and names
		// the step.
		fmt.Fprintf(&b, "\n%s is also a step type: scenario steps %s shows its keys.\n", c.name, c.name)
	}
	return b.String()
}

// noOperands says so when a command that takes no arguments got some.
func noOperands(name string, args []string, stderr io.Writer) bool {
	if len(args) == 0 {
		return true
	}
	fmt.Fprintf(stderr, "scenario %s: unexpected argument %q; it takes none (see scenario help %s)\n", name, args[0], name)
	return false
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		fmt.Fprint(stdout, usage())
		return exitPassed
	case 1:
		if c, ok := findCommand(args[0]); ok {
			fmt.Fprint(stdout, commandHelp(c))
			return exitPassed
		}
		if _, ok := steps.Default().Lookup(args[0]); ok {
			// help expect: a step type's keys, as scenario steps expect.
			return cmdSteps(false, args, stdout, stderr)
		}
		if t, ok := findTopic(args[0]); ok {
			fmt.Fprint(stdout, topicHelp(t))
			return exitPassed
		}
		fmt.Fprint(stderr, unknownHelp(args[0]))
	default:
		fmt.Fprintf(stderr, "scenario help: give at most one command, not %q\n", args)
	}
	return exitInvalid
}

// cmdSteps prints every step type, or only those named, with their keys.
func cmdSteps(markdown bool, names []string, stdout, stderr io.Writer) int {
	if markdown {
		fmt.Fprint(stdout, steps.Default().MarkdownTable(func(name string) string { return "docs/reference/steps.md#" + name }))
		return exitPassed
	}
	registry := steps.Default()
	types := registry.Types()
	if len(names) > 0 {
		types = nil
		for _, name := range names {
			t, ok := registry.Lookup(name)
			if !ok {
				hint := ""
				if g := suggest.Closest(name, registry.Names()); g != "" {
					hint = fmt.Sprintf("; did you mean %s?", g)
				}
				fmt.Fprintf(stderr, "scenario steps: no step type %q%s (scenario steps lists them all)\n", name, hint)
				return exitInvalid
			}
			types = append(types, t)
		}
	}
	for _, t := range types {
		fmt.Fprint(stdout, t.Text())
	}
	fmt.Fprintln(stdout, "\nEvery step item may also have:")
	for _, k := range spec.Keys(reflect.TypeOf(scenariofile.ItemKeys{})) {
		fmt.Fprintf(stdout, "  %s: %s\n", k.Key, k.Line())
	}
	return exitPassed
}
