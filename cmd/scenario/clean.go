package main

import (
	"fmt"
	"io"

	"github.com/scenario-tool/scenario/reaper"
)

// cmdClean removes the leftovers of runs whose runner is gone, and says
// what it removed and what it kept.
func cmdClean(stdout, stderr io.Writer) int {
	swept, err := reaper.Sweep()
	for _, what := range swept.Removed {
		fmt.Fprintln(stdout, "removed", what)
	}
	for _, what := range swept.Kept {
		fmt.Fprintln(stdout, "kept", what)
	}
	if len(swept.Removed) == 0 && len(swept.Kept) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to clean: no run whose runner is gone left a namespace or cgroup")
	}
	if err != nil {
		fmt.Fprintf(stderr, "scenario clean: %v\n", err)
		return exitFailed
	}
	return exitPassed
}

// sweepLeftovers is the sweep every run does before it starts: what it
// removed is said on stderr, and a failure does not stop the run.
func sweepLeftovers(stderr io.Writer) {
	swept, err := reaper.Sweep()
	for _, what := range swept.Removed {
		fmt.Fprintf(stderr, "scenario: removed %s, left by a run whose runner is gone\n", what)
	}
	for _, what := range swept.Kept {
		fmt.Fprintf(stderr, "scenario: kept %s\n", what)
	}
	if err != nil {
		fmt.Fprintf(stderr, "scenario: removing what dead runs left: %v (see scenario clean)\n", err)
	}
}
