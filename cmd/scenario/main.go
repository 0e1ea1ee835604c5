// Command scenario runs declarative YAML scenarios against a real Consul
// Connect service mesh and reports, with evidence, whether it behaves as
// expected.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/term"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/reaper"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
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

// A command is one verb of the CLI. The table renders the help, each
// command's own help (`scenario help run`, `scenario run --help`) and the
// shell completions, so that none of them can forget a flag.
type command struct {
	name, args, summary string
	// detail says more in the command's own help, above its flags.
	detail string
	// flags defines the command's flags; run gets the arguments left once
	// they are parsed. commands() makes both fresh, bound to one another.
	flags func(fs *flag.FlagSet)
	run   func(args []string, stdout, stderr io.Writer) int
	// formats are the values of its --format, for completion (default
	// "text json test2json").
	formats string
	// operands says what the arguments are, for completion: "files"
	// (scenario files and folders), a list of words, or "" for none.
	operands string
}

func commands() []command {
	var rf, uf runFlags
	var af auditFlags
	var listJSON, validateJSON, validateAgent, validateWrites, markdown, svg bool
	var versionConsul, execLogs, execScenario, reportOut string
	return []command{
		{name: "run", args: "[flags] FILE|DIR...", summary: "validate, then run scenarios",
			detail: "Runs each scenario file given (a folder means its *.yaml and *.yml), reporting\n" +
				"step by step; nothing starts unless every file is valid (see --skip-invalid).\n" +
				"--run selects scenarios by name, and steps: SCENARIO/STEP runs a scenario up\n" +
				"to and including the last step whose name matches STEP (a step's name is\n" +
				"NN_TYPE_LABEL, e.g. 11_expect_new_connections_are_denied; the steps after it\n" +
				"are not run, the steps before it are, as the steps depend on them).",
			flags: func(fs *flag.FlagSet) { rf.register(fs, "run") }, operands: "files",
			run: func(args []string, stdout, stderr io.Writer) int { return runOrUp("run", &rf, args, stdout, stderr) }},
		{name: "up", args: "[flags] FILE", summary: "run a scenario's steps, keep everything up until Ctrl-C, then clean up",
			detail: "Runs a scenario's steps, then keeps the agent, the proxies and the services\n" +
				"running until Ctrl-C (or SIGTERM), then stops everything it started. While\n" +
				"it holds the mesh it says how to reach each node's agent (and a server's UI)\n" +
				"from the host, and scenario exec NODE -- COMMAND runs a command on a node.",
			flags: func(fs *flag.FlagSet) { uf.register(fs, "up") }, operands: "files",
			run: func(args []string, stdout, stderr io.Writer) int { return runOrUp("up", &uf, args, stdout, stderr) }},
		{name: "audit", args: "--agent ADDR [flags]", summary: "a live cluster's reachability table: Consul's authorization against every sidecar, read-only",
			detail: auditDetail, formats: "text json junit test2json",
			flags: func(fs *flag.FlagSet) { af.register(fs) },
			run:   func(args []string, stdout, stderr io.Writer) int { return cmdAudit(&af, args, stdout, stderr) }},
		{name: "exec", args: "NODE -- COMMAND...", summary: "run a command on a node of the mesh scenario up holds (e.g. consul members)",
			detail: "Runs COMMAND on NODE of a mesh that `scenario up` holds, as an exec step\n" +
				"there would: in the node's network namespace, with its agent as\n" +
				"CONSUL_HTTP_ADDR, the scenario's token as CONSUL_HTTP_TOKEN, SCENARIO_NODE\n" +
				"and the nodes' addresses, consul on the PATH, in the scenario file's folder.\n" +
				"A scenario without nodes is the node " + hostNode + ". The command is yours, as with\n" +
				"ip netns exec: its output is not redacted, and up's cleanup does not stop it.\n" +
				"Exits with the command's status.",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&execLogs, "logs", "logs", "the --logs `DIR` of the up that holds the mesh")
				fs.StringVar(&execScenario, "scenario", "", "the held scenario's `NAME`, when several held meshes have NODE")
			},
			run: func(args []string, stdout, stderr io.Writer) int {
				return cmdExec(args, execLogs, execScenario, stdout, stderr)
			}},
		{name: "validate", args: "[flags] FILE|DIR...", summary: "check files and warn about suspicious ones, starting nothing",
			detail: "Checks everything run checks and starts nothing; warnings (legal but\n" +
				"suspicious) leave the exit status 0, an invalid file makes it 2. --agent\n" +
				"checks files as run --agent reads them (a deploy gate for an existing\n" +
				"cluster), without asking any agent.",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&validateJSON, "json", false, "print one JSON object per file, one per line (JSON Lines): file, name,\nsteps, valid, errors, warnings")
				fs.BoolVar(&validateAgent, "agent", false, "check the files as run --agent ADDR would: against an existing cluster,\nwhose services and sidecars no step needs to make, and where a step\nthat would change it is refused unless --allow-writes")
				fs.BoolVar(&validateWrites, "allow-writes", false, "with --agent: as run --agent --allow-writes would")
			},
			operands: "files",
			run: func(args []string, stdout, stderr io.Writer) int {
				if validateWrites && !validateAgent {
					fmt.Fprintln(stderr, "scenario validate: --allow-writes goes with --agent")
					return exitInvalid
				}
				var opts []scenariofile.Option
				if validateAgent {
					opts = append(opts, scenariofile.AgainstExistingCluster(validateWrites))
				}
				return cmdValidate(args, validateJSON, stdout, stderr, opts...)
			}},
		{name: "list", args: "[--json] [DIR...]", summary: "one line per scenario (default DIR: scenarios); --json for a CI matrix",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&listJSON, "json", false, "print a JSON array of {name, file, steps, description}, for a CI matrix")
			},
			operands: "files",
			run:      func(args []string, stdout, stderr io.Writer) int { return cmdList(args, listJSON, stdout, stderr) }},
		{name: "steps", args: "[--markdown|TYPE...]", summary: "the step types a scenario can use (or only TYPE's keys), from the step registry",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&markdown, "markdown", false, "print the table of step types in Markdown, as docs/reference/steps.md shows it")
			},
			run: func(args []string, stdout, stderr io.Writer) int {
				if markdown && len(args) > 0 {
					fmt.Fprintf(stderr, "scenario steps: --markdown prints the whole table; it takes no step type (got %q)\n", args[0])
					return exitInvalid
				}
				return cmdSteps(markdown, args, stdout, stderr)
			}},
		{name: "schema", summary: "the JSON Schema of scenario files, from the step registry",
			run: func(args []string, stdout, stderr io.Writer) int {
				if !noOperands("schema", args, stderr) {
					return exitInvalid
				}
				return cmdSchema(stdout)
			}},
		{name: "graph", args: "[--svg] FILE", summary: "the scenario's topology as Graphviz DOT (SVG with --svg, needs dot)",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&svg, "svg", false, "render SVG with Graphviz's dot instead of printing DOT")
			},
			operands: "files",
			run:      func(args []string, stdout, stderr io.Writer) int { return cmdGraph(args, svg, stdout, stderr) }},
		{name: "report", args: "[-o FILE] EVENTS.json", summary: "render a saved run --json event stream as the HTML report run --html writes",
			detail: "Reads the events of a run (scenario run --json > events.json; - reads stdin) and\n" +
				"writes the self-contained HTML report: summary, a timeline per scenario, the\n" +
				"topology and each step's evidence (see docs/guides/html-report.md).",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&reportOut, "o", "", "write the report to `FILE` (default: stdout)")
			},
			operands: "files",
			run:      func(args []string, stdout, stderr io.Writer) int { return cmdReport(args, reportOut, stdout, stderr) }},
		{name: "version", args: "[--consul PATH]", summary: "this build's version and the Consul version it would run",
			detail: "Prints scenario's module version, VCS revision and Go version (from the\n" +
				"build information), then the first line of `consul version` of the consul\n" +
				"binary run would use. Also `scenario --version`.",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&versionConsul, "consul", "", "consul `PATH` to ask (default: $CONSUL, bin/consul, then PATH)")
			},
			run: func(args []string, stdout, stderr io.Writer) int {
				if !noOperands("version", args, stderr) {
					return exitInvalid
				}
				return cmdVersion(versionConsul, stdout)
			}},
		{name: "clean", summary: "remove what runs killed with their reaper left (namespaces, cgroups), saying what",
			detail: "Removes the network namespaces and cgroups of runs whose runner is gone (a\n" +
				"CI job cancelled with its whole process tree), killing the processes left in\n" +
				"those cgroups, and says what it removed. It removes only what a runner made:\n" +
				"names carry the runner's pid and start time (sc<pid>-<start>.<hex>-<node>\n" +
				"in /run/netns, scenario-<pid>-<start> cgroups), so a live run's are never\n" +
				"touched; a namespace a live process is in is kept and named. Every run does\n" +
				"the same before it starts (needs root).",
			run: func(args []string, stdout, stderr io.Writer) int {
				if !noOperands("clean", args, stderr) {
					return exitInvalid
				}
				return cmdClean(stdout, stderr)
			}},
		{name: "completion", args: "bash|zsh|fish", summary: "a shell completion script, e.g. source <(scenario completion bash)",
			detail: "Prints a completion script for the shell named. bash: source <(scenario\n" +
				"completion bash); zsh: source <(scenario completion zsh) after compinit; fish:\n" +
				"scenario completion fish > ~/.config/fish/completions/scenario.fish",
			operands: "bash zsh fish", run: cmdCompletion},
		{name: "help", args: "[COMMAND|STEP|TOPIC]", summary: "show this help, a command's flags, a step type's keys, or a topic of the file format",
			operands: "commands", run: cmdHelp},
	}
}

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

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitInvalid
	}
	switch args[0] {
	case "-h", "-help", "--help":
		args = append([]string{"help"}, args[1:]...)
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	commandLine = shellWords(append([]string{"scenario"}, args...))
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "scenario: unknown command %q\n\n%s", args[0], usage())
		return exitInvalid
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the error is printed by flag, the hint below
	if c.flags != nil {
		c.flags(fs)
	}
	operands, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandHelp(c))
		return exitPassed
	}
	if err != nil {
		fmt.Fprintf(stderr, "scenario %s: see scenario help %s\n", c.name, c.name)
		return exitInvalid
	}
	return c.run(operands, stdout, stderr)
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
		fmt.Fprintf(stderr, "scenario help: %q is neither a command, a step type (scenario steps lists those) nor a topic\n\n%s", args[0], usage())
	default:
		fmt.Fprintf(stderr, "scenario help: give at most one command, not %q\n", args)
	}
	return exitInvalid
}

// parseInterspersed lets flags come before or after the file names; after
// "--" everything is a file name.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(files, rest...), nil
		}
		if len(rest) == 0 {
			return files, nil
		}
		files = append(files, rest[0])
		args = rest[1:]
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

// consulJudge lets Consul itself judge service definitions while files
// load (`consul validate`), when a consul binary can be found.
func consulJudge(flag string) scenariofile.Option {
	var judge consuldef.ConsulJudge
	if bin, err := runner.FindConsul(flag); err == nil {
		judge.Consul = bin
	}
	return scenariofile.JudgedBy(judge)
}

// loadAll validates every file and prints every problem before anything
// starts; an invalid file does not stop the others from being read. Two
// scenarios may not share a name: they would share a log folder. The
// warnings stay in each scenario, for the command to show (validate and
// run do; list and graph do not).
func loadAll(files []string, stderr io.Writer, opts ...scenariofile.Option) ([]*runner.Scenario, []runner.InvalidFile) {
	var scenarios []*runner.Scenario
	var invalid []runner.InvalidFile
	byName := map[string]string{}
	for _, f := range files {
		// A FIFO or a device would block or never end: only regular files
		// are read (a missing file is reported by Load).
		if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
			err := fmt.Errorf("%s:1:1: not a regular file (%s); give a scenario file", f, "a "+runner.DescribeMode(st.Mode()))
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: f, Err: err})
			continue
		}
		sc, err := scenariofile.Load(f, steps.Default(), opts...)
		if err != nil {
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: f, Err: err})
			continue
		}
		if other, dup := byName[sc.Name]; dup {
			err := fmt.Errorf("%s:1:1: the scenario name %q is also the name of %s; two scenarios with one name would share a log folder and a report line: rename one (name: at the top of the file)", sc.File, sc.Name, other)
			fmt.Fprintln(stderr, err)
			invalid = append(invalid, runner.InvalidFile{File: sc.File, Err: err})
			continue
		}
		byName[sc.Name] = sc.File
		scenarios = append(scenarios, sc)
	}
	return scenarios, invalid
}

// printWarnings prints the scenarios' warnings, one per line.
func printWarnings(scenarios []*runner.Scenario, w io.Writer) {
	for _, sc := range scenarios {
		for _, warning := range sc.Warnings {
			fmt.Fprintln(w, warning)
		}
	}
}

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
	scenarios, invalid := loadAll(files, stderr, opts...)
	printWarnings(scenarios, stderr)
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
		if len(files) > 1 {
			fmt.Fprintf(stderr, "%d of %d files are invalid\n", len(invalid), len(files))
		}
		return exitInvalid
	}
	return exitPassed
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
				if g := spec.Suggest(name, registry.Names()); g != "" {
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

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
