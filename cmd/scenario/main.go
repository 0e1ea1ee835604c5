// Command scenario runs declarative YAML scenarios against a real Consul
// Connect service mesh and reports, with evidence, whether it behaves as
// expected.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/reaper"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
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
	if len(os.Args) > 1 && os.Args[1] == reaper.Arg {
		// The hidden mode the runner starts to outlive it (see package reaper).
		os.Exit(reaper.Main(os.Args[2:]))
	}
	// Every line written to stderr is redacted and has its control
	// characters escaped, whatever wrote it (a child of --parallel too).
	stderr := runner.NewSafeWriter(os.Stderr)
	code := run(os.Args[1:], os.Stdout, stderr)
	stderr.Flush()
	os.Exit(code)
}

// A command is one verb of the CLI; the table below also renders the help.
type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "[flags] FILE|DIR...", "validate, then run scenarios (see flags below)", cmdRun},
		{"up", "[flags] FILE", "run a scenario's steps, keep everything up until Ctrl-C, then clean up", cmdUp},
		{"validate", "FILE|DIR...", "check files and warn about suspicious ones, starting nothing", cmdValidate},
		{"list", "[--json] [DIR...]", "one line per scenario (default DIR: scenarios); --json for a CI matrix", cmdList},
		{"steps", "[--markdown]", "the step types a scenario can use, from the step registry", cmdSteps},
		{"schema", "", "the JSON Schema of scenario files, from the step registry", cmdSchema},
		{"graph", "[--svg] FILE", "the scenario's topology as Graphviz DOT (SVG with --svg, needs dot)", cmdGraph},
		{"help", "", "show this help", func(_ []string, stdout, _ io.Writer) int { fmt.Fprint(stdout, usage()); return exitPassed }},
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("scenario runs YAML scenarios against a real Consul Connect service mesh.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  scenario %-8s %-22s %s\n", c.name, c.args, c.summary)
	}
	b.WriteString(`
Flags of run and up:
  --consul PATH     consul binary (default: $CONSUL, bin/consul, then PATH)
  --logs DIR        process logs go to DIR/<scenario>/ (default logs)
  --no-color        plain output (also when NO_COLOR is set or not a terminal)
  --json            print a stream of JSON events instead of the report
  --junit FILE      also write a JUnit XML report to FILE
Flags of up only:
  --keep-on-failure when a step fails, keep everything up as it was until
                    Ctrl-C, to inspect the mesh (exit 1 after cleanup)
Flags of run only:
  --skip-invalid    run the valid scenarios even when other files are invalid
                    (which are reported, and recorded in --junit; exit 2)
  --shard I/N       run only the I-th of N disjoint shards of the scenarios
  --parallel N      run up to N scenarios at once, each in its own network
                    namespace (needs root; otherwise runs them one by one)

Exit status: 0 all passed, 1 a scenario failed, 2 invalid input or usage,
130 interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT or stdout closed; a second
signal kills what is left at once). Whatever ends the runner, even SIGKILL,
its processes are killed by a watchdog process it starts.
`)
	return b.String()
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitInvalid
	}
	if args[0] == "-h" || args[0] == "--help" {
		args[0] = "help"
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "scenario: unknown command %q\n\n%s", args[0], usage())
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

// expand turns directories into the scenario files they hold, sorted.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			files = append(files, p) // Load reports a missing file with its position
			continue
		}
		var found []string
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pattern))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no scenario (*.yaml, *.yml)", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// useConsulJudge lets Consul itself judge service definitions while files
// load (`consul validate`), when a consul binary can be found.
func useConsulJudge(flag string) {
	if bin, err := runner.FindConsul(flag); err == nil {
		steps.ConsulJudge = bin
	}
}

// invalidFile is a file that failed validation, and why.
type invalidFile struct {
	file string
	err  error
}

// loadAll validates every file and prints every problem (and warning)
// before anything starts; an invalid file does not stop the others from
// being read. Two scenarios may not share a name: they would share a log
// folder.
func loadAll(files []string, stderr io.Writer) ([]*runner.Scenario, []invalidFile) {
	var scenarios []*runner.Scenario
	var invalid []invalidFile
	byName := map[string]string{}
	for _, f := range files {
		// A FIFO or a device would block or never end: only regular files
		// are read (a missing file is reported by Load).
		if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
			err := fmt.Errorf("%s:1:1: not a regular file (%s); give a scenario file", f, "a "+runner.DescribeMode(st.Mode()))
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, invalidFile{f, err})
			continue
		}
		sc, err := scenariofile.Load(f, steps.Default())
		if err != nil {
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, invalidFile{f, err})
			continue
		}
		for _, w := range sc.Warnings {
			fmt.Fprintln(stderr, w)
		}
		if other, dup := byName[sc.Name]; dup {
			err := fmt.Errorf("%s:1:1: the scenario name %q is also the name of %s; two scenarios with one name would share a log folder and a report line: rename one (name: at the top of the file)", sc.File, sc.Name, other)
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, invalidFile{sc.File, err})
			continue
		}
		byName[sc.Name] = sc.File
		scenarios = append(scenarios, sc)
	}
	return scenarios, invalid
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return exitInvalid
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "scenario validate: give at least one scenario file or folder")
		return exitInvalid
	}
	files, err := expand(paths)
	if err != nil {
		fmt.Fprintln(stderr, "scenario validate:", err)
		return exitInvalid
	}
	useConsulJudge("")
	scenarios, invalid := loadAll(files, stderr)
	for _, sc := range scenarios {
		fmt.Fprintf(stdout, "ok  %s (%s, %d steps)\n", runner.EscapeLine(sc.File), runner.EscapeLine(sc.Name), len(sc.Items))
	}
	if len(invalid) > 0 {
		if len(files) > 1 {
			fmt.Fprintf(stderr, "%d of %d files are invalid\n", len(invalid), len(files))
		}
		return exitInvalid
	}
	return exitPassed
}

func cmdSteps(args []string, stdout, _ io.Writer) int {
	if len(args) > 0 && args[0] == "--markdown" {
		fmt.Fprint(stdout, stepsMarkdown())
		return exitPassed
	}
	for _, t := range steps.Default().Types() {
		fmt.Fprintf(stdout, "%s\n    %s\n    value: %s\n", t.Name, t.Summary, t.Fields)
		for _, k := range steps.SpecKeys(t.Spec) {
			fmt.Fprintf(stdout, "      %s: %s\n", k.Key, keyLine(k))
		}
		fmt.Fprintf(stdout, "    e.g.   %s\n", t.Example)
	}
	fmt.Fprintln(stdout, "\nEvery step item may also have:")
	for _, k := range steps.SpecKeys(reflect.TypeOf(scenariofile.ItemKeys{})) {
		fmt.Fprintf(stdout, "  %s: %s\n", k.Key, keyLine(k))
	}
	return exitPassed
}

// keyLine describes a key of a step's value in one line.
func keyLine(k steps.KeyDoc) string {
	s := k.Shape
	switch {
	case k.Required:
		s += ", required"
	case k.Default != "":
		s += ", default " + k.Default
	}
	if k.Doc != "" {
		s += "; " + k.Doc
	}
	return s
}

// stepsMarkdown renders the README's step table from the registry.
func stepsMarkdown() string {
	var b strings.Builder
	b.WriteString("| step | value | does | default timeout | example |\n|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, t := range steps.Default().Types() {
		timeout := "the scenario's"
		if t.Timeout > 0 {
			timeout = roundDuration(t.Timeout)
		}
		value := cell(t.Fields)
		if t.Spec != nil {
			value += fmt.Sprintf(" ([keys](docs/steps.md#%s))", t.Name)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", t.Name, value, cell(t.Summary), timeout, cell(t.Example))
	}
	return b.String()
}

// stepsReference renders docs/steps.md: every step type with the keys of
// its value, from the value's Go type.
func stepsReference() string {
	var b strings.Builder
	b.WriteString("# Step types\n\n<!-- generated by `go generate ./cmd/scenario` from the step value types in steps/; do not edit -->\n\n")
	b.WriteString("Every step item is a list item with one step-type key, whose value is described below, and these item keys:\n\n")
	keyTable(&b, steps.SpecKeys(reflect.TypeOf(scenariofile.ItemKeys{})))
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, t := range steps.Default().Types() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\nValue: `%s`\n\n", t.Name, t.Summary, t.Fields)
		if keys := steps.SpecKeys(t.Spec); len(keys) > 0 {
			keyTable(&b, keys)
			b.WriteString("\n")
		}
		timeout := "the scenario's"
		if t.Timeout > 0 {
			timeout = roundDuration(t.Timeout)
		}
		fmt.Fprintf(&b, "Default timeout: %s. Example: `%s`\n", timeout, cell(t.Example))
	}
	return b.String()
}

func keyTable(b *strings.Builder, keys []steps.KeyDoc) {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	b.WriteString("| key | value | | meaning |\n|---|---|---|---|\n")
	for _, k := range keys {
		req := ""
		switch {
		case k.Required:
			req = "required"
		case k.Default != "":
			req = "default `" + k.Default + "`"
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s | %s |\n", k.Key, cell(k.Shape), req, cell(k.Doc))
	}
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
