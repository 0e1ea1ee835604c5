package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/scenario-tool/scenario/runner"
)

// listed is one scenario in `scenario list --json`, ready for a CI matrix
// (GitHub Actions: fromJSON(needs.list.outputs.scenarios)).
type listed struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	Steps       int    `json:"steps"`
	Description string `json:"description"`
}

func cmdList(paths []string, asJSON bool, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		paths = []string{"scenarios"}
	}
	files, err := expand(paths)
	if err != nil {
		fmt.Fprintln(stderr, "scenario list:", err)
		return exitInvalid
	}
	// Invalid files are reported on stderr and the valid ones still
	// listed; the exit status says that something was invalid.
	scenarios, invalid := loadAll(files, stderr, consulJudge(""))
	code := exitPassed
	if len(invalid) > 0 {
		code = exitInvalid
	}
	out := []listed{}
	for _, sc := range scenarios {
		out = append(out, listed{Name: sc.Name, File: sc.File, Steps: len(sc.Items), Description: strings.Join(strings.Fields(sc.Description), " ")})
	}
	if asJSON {
		data, _ := json.Marshal(out)
		fmt.Fprintln(stdout, string(data))
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFILE\tSTEPS\tDESCRIPTION")
	for _, l := range out {
		desc := l.Description
		if len(desc) > 72 {
			desc = desc[:69] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", runner.EscapeLine(l.Name), runner.EscapeLine(l.File), l.Steps, runner.EscapeLine(desc))
	}
	tw.Flush()
	return code
}
