package main

import (
	"strconv"
	"strings"
)

// Exit statuses, listed with their meanings in exitStatuses.
const (
	exitPassed      = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitInterrupted = 130
)

// An exitStatus is one status the CLI exits with: short is said in
// `scenario help`, meaning in docs/reference/exit-codes.md.
type exitStatus struct {
	code           int
	short, meaning string
}

var exitStatuses = []exitStatus{
	{exitPassed, "all passed",
		"every scenario passed; `validate` and `list`: every file is valid; `audit`: every probed cell of the table agrees, and every source was probed (or `--allow-unprobed`); `help` and `--help`"},
	{exitFailed, "a scenario failed",
		"a scenario failed: a step failed or timed out, a process of the scenario died, or a log or a report file (`--junit`, `--html`) could not be written; also `up` after a failed step (with or without `--keep-on-failure`), and `up` when a process died while the mesh was held; `audit`: a cell does not agree (observed against predicted or declared, a split, an unknown), or a source was not probed (without `--allow-unprobed`)"},
	{exitInvalid, "invalid input or usage",
		"invalid input or usage, and nothing was started: an invalid scenario or definition file, an unknown command or flag, two scenarios with one name, a scenario or definition file that is not a regular file, a log folder in the way that `scenario` did not create, a `--run` that selects nothing; with `run --skip-invalid`, some files were invalid and every valid one passed; `list` and `validate`: some file was invalid; `audit`: bad flags, an invalid `--expect` file, or an agent that does not answer as a Consul agent with Connect"},
	{exitInterrupted, "interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT or stdout closed; a second signal kills what is left at once)",
		"interrupted: SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal closed), SIGQUIT, or stdout closed (`scenario run ... | head -5`: SIGPIPE, or its reader gone); everything started was stopped first. `up` ends this way too: Ctrl-C is how it ends. A second signal during cleanup kills what is left at once (still 130)"},
}

// exitSummary is the paragraph of `scenario help` about exit statuses.
func exitSummary() string {
	var parts []string
	for _, s := range exitStatuses {
		parts = append(parts, strconv.Itoa(s.code)+" "+s.short)
	}
	return wrap("Exit status: "+strings.Join(parts, ", ")+". Whatever ends the runner, even SIGKILL, its processes are killed by a watchdog process it starts.", 78)
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		if i > 0 {
			if line+1+len(w) > width {
				b.WriteString("\n")
				line = 0
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String() + "\n"
}
