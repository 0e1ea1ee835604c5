package main

import (
	"fmt"
	"strings"

	"github.com/scenario-tool/scenario/steps"
)

// agentEffectsMarkdown is the table of docs/guides/existing-cluster.md:
// what each step type does under `run --agent`, from the effect its
// registration declares.
func agentEffectsMarkdown() string {
	var b strings.Builder
	b.WriteString("| step | without --allow-writes | with --allow-writes |\n|---|---|---|\n")
	for _, t := range steps.Default().Types() {
		var without, with string
		switch c := t.Cluster; c.Use {
		case steps.UseReads:
			without, with = "runs (it changes nothing in the cluster)", "runs"
		case steps.UseUndone:
			without, with = "refused", "runs; at the end "+c.Why
		case steps.UseNotUndone:
			without, with = "refused", "runs; **not undone**: "+c.Why
		case steps.UseOwnCluster:
			without, with = "refused: "+c.Why, "refused"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", t.Name, without, with)
	}
	return b.String()
}
