// Command scenario runs declarative YAML scenarios against a real Consul
// Connect service mesh and reports, with evidence, whether it behaves as
// expected.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fatih/color"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/steps"
)

// Exit statuses, as documented in the README.
const (
	exitPassed      = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `scenario runs YAML scenarios against a real Consul Connect service mesh.

Usage:
  scenario run [flags] FILE...     validate, then run each scenario in turn
  scenario validate FILE...        check files without starting anything
  scenario steps [--markdown]      list the step types a scenario can use
  scenario help                    show this help

Flags of run:
  --consul PATH   consul binary (default: $CONSUL, bin/consul, then PATH)
  --logs DIR      process logs go to DIR/<scenario>/ (default logs)
  --no-color      plain output (also when NO_COLOR is set or not a terminal)

Exit status: 0 all passed, 1 a scenario failed, 2 invalid input or usage,
130 interrupted (SIGINT or SIGTERM; a second one kills what is left at once).
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "steps":
		if len(args) > 1 && args[1] == "--markdown" {
			fmt.Fprint(stdout, stepsMarkdown())
			return exitPassed
		}
		printSteps(stdout)
		return exitPassed
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitPassed
	}
	fmt.Fprintf(stderr, "scenario: unknown command %q\n\n%s", args[0], usage)
	return exitInvalid
}

// parseInterspersed lets flags come before or after the file names.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return files, nil
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// loadAll validates every file and prints every problem before anything
// starts.
func loadAll(files []string, stderr io.Writer) ([]*runner.Scenario, bool) {
	var scenarios []*runner.Scenario
	ok := true
	for _, f := range files {
		sc, err := runner.Load(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			ok = false
			continue
		}
		scenarios = append(scenarios, sc)
	}
	return scenarios, ok
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "scenario validate: give at least one scenario file")
		return exitInvalid
	}
	scenarios, ok := loadAll(files, stderr)
	for _, sc := range scenarios {
		fmt.Fprintf(stdout, "ok  %s (%s, %d steps)\n", sc.File, sc.Name, len(sc.Items))
	}
	if !ok {
		return exitInvalid
	}
	return exitPassed
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	consulFlag := fs.String("consul", "", "consul binary")
	logsDir := fs.String("logs", "logs", "log folder")
	noColor := fs.Bool("no-color", false, "plain output")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "scenario run: give at least one scenario file, e.g. scenario run scenarios/basic.yaml")
		return exitInvalid
	}
	scenarios, ok := loadAll(files, stderr)
	if !ok {
		return exitInvalid
	}
	consul, consulErr := runner.FindConsul(*consulFlag)
	if consulErr != nil && needsAgent(scenarios) {
		fmt.Fprintln(stderr, "scenario:", consulErr)
		return exitInvalid
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	force := make(chan struct{})
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		fmt.Fprintf(stderr, "\nscenario: %s: stopping everything started (again to kill at once)\n", sig)
		cancel(runner.Interrupt{Signal: sig})
		if _, ok := <-signals; ok {
			fmt.Fprintln(stderr, "scenario: killing what is left")
			close(force)
		}
	}()

	opts := runner.Options{
		Out:       stdout,
		Color:     !*noColor && !color.NoColor && isTerminal(stdout),
		LogsDir:   *logsDir,
		Consul:    consul,
		ConsulErr: consulErr,
		Force:     force,
	}
	passed, failed := 0, 0
	for _, sc := range scenarios {
		res := runner.Run(ctx, sc, opts)
		switch res.Outcome {
		case runner.Interrupted:
			return exitInterrupted
		case runner.Passed:
			passed++
		default:
			failed++
		}
	}
	if len(scenarios) > 1 {
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return exitFailed
	}
	return exitPassed
}

func needsAgent(scenarios []*runner.Scenario) bool {
	for _, sc := range scenarios {
		for _, it := range sc.Items {
			if it.Type == "start-agent" {
				return true
			}
		}
	}
	return false
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printSteps(w io.Writer) {
	for _, t := range steps.Types() {
		fmt.Fprintf(w, "%s\n    %s\n    value: %s\n    e.g.   %s\n", t.Name, t.Summary, t.Fields, t.Example)
	}
	fmt.Fprintln(w, "\nEvery step item may also have name (its label in the output) and timeout (e.g. 30s).")
}

// stepsMarkdown renders the README's step table from the registry.
func stepsMarkdown() string {
	var b strings.Builder
	b.WriteString("| step | value | does | default timeout | example |\n|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, t := range steps.Types() {
		timeout := "the scenario's"
		if t.Timeout > 0 {
			timeout = roundDuration(t.Timeout)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", t.Name, cell(t.Fields), cell(t.Summary), timeout, cell(t.Example))
	}
	return b.String()
}

// roundDuration prints 60s as 1m and 30s as 30s, not 1m0s.
func roundDuration(d time.Duration) string {
	switch {
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
