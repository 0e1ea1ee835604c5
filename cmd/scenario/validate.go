package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
)

// validated is one file in `scenario validate --json`.
type validated struct {
	File     string   `json:"file"`
	Name     string   `json:"name,omitempty"`
	Steps    int      `json:"steps,omitempty"`
	Valid    bool     `json:"valid"`
	Errors   []string `json:"errors,omitempty"`   // file:line:col: what is wrong
	Warnings []string `json:"warnings,omitempty"` // file:line:col: what is suspicious
}

// cmdValidate checks files as run reads them; with
// scenariofile.AgainstExistingCluster among opts, as run --agent does.
func cmdValidate(paths []string, asJSON bool, stdout, stderr io.Writer, opts ...scenariofile.Option) int {
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "scenario validate: give at least one scenario file or folder")
		return exitInvalid
	}
	files, err := expand(paths)
	if err != nil {
		fmt.Fprintln(stderr, "scenario validate:", err)
		return exitInvalid
	}
	opts = append([]scenariofile.Option{consulJudge("")}, opts...)
	// With --json, the problems are on stdout only; stderr has at most a
	// one-line summary.
	problems := stderr
	if asJSON {
		problems = io.Discard
	}
	scenarios, invalid := loadAll(files, problems, opts...)
	printWarnings(scenarios, problems)
	if asJSON {
		// JSON Lines: one object per file, in the order given, each file
		// once: valid ones with their warnings, invalid ones with every
		// problem. A line per file reads with jq -c, grep or a line
		// reader, as --format json's events do.
		byFile := map[string]validated{}
		for _, sc := range scenarios {
			v := validated{File: sc.File, Name: sc.Name, Steps: len(sc.Items), Valid: true}
			for _, w := range sc.Warnings {
				v.Warnings = append(v.Warnings, w.Error())
			}
			byFile[sc.File] = v
		}
		for _, inv := range invalid {
			v := validated{File: inv.File}
			for _, l := range strings.Split(strings.TrimSpace(inv.Err.Error()), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					v.Errors = append(v.Errors, l)
				}
			}
			byFile[inv.File] = v
		}
		var out []validated
		for _, f := range files {
			if v, ok := byFile[f]; ok {
				out = append(out, v)
				delete(byFile, f)
			}
		}
		rest := make([]string, 0, len(byFile)) // a path Load spelled otherwise
		for f := range byFile {
			rest = append(rest, f)
		}
		sort.Strings(rest)
		for _, f := range rest {
			out = append(out, byFile[f])
		}
		for _, v := range out {
			data, _ := json.Marshal(v)
			fmt.Fprintln(stdout, string(data))
		}
	} else {
		for _, sc := range scenarios {
			fmt.Fprintf(stdout, "ok  %s (%s, %d steps)\n", runner.EscapeLine(sc.File), runner.EscapeLine(sc.Name), len(sc.Items))
		}
	}
	if len(invalid) > 0 {
		if len(files) > 1 || asJSON {
			fmt.Fprintf(stderr, "%d of %d files are invalid\n", len(invalid), len(files))
		}
		return exitInvalid
	}
	return exitPassed
}
