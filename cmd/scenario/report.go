package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/scenario-tool/scenario/runner/htmlreport"
)

// cmdReport renders a saved event stream (run --json) as the HTML report
// run --html writes.
func cmdReport(args []string, out string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "scenario report: give one event file (the output of scenario run --json, or - for stdin), e.g. scenario report events.json -o report.html")
		return exitInvalid
	}
	in := io.Reader(os.Stdin)
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "scenario report: %v\n", err)
			return exitInvalid
		}
		defer f.Close()
		in = f
	}
	events, err := htmlreport.ReadEvents(in)
	if err != nil {
		fmt.Fprintf(stderr, "scenario report: %s: %v\n", args[0], err)
		return exitInvalid
	}
	if out == "" || out == "-" {
		var b bytes.Buffer
		if err := htmlreport.Write(&b, events, htmlreport.Options{}); err != nil {
			fmt.Fprintf(stderr, "scenario report: %v\n", err)
			return exitFailed
		}
		_, _ = stdout.Write(b.Bytes())
		return exitPassed
	}
	if err := htmlreport.WriteFile(out, events, htmlreport.Options{}); err != nil {
		fmt.Fprintf(stderr, "scenario report: writing %s: %v\n", out, err)
		return exitFailed
	}
	return exitPassed
}

// commandLine is this invocation as a shell would take it back, for the
// report's summary (redacted with every event).
var commandLine string

// shellWords quotes each argument that a shell would not read back as
// itself.
func shellWords(args []string) string {
	var words []string
	for _, a := range args {
		safe := a != ""
		for _, r := range a {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)) {
				safe = false
				break
			}
		}
		if !safe {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
