// Command scenario runs declarative YAML scenarios against a real Consul
// Connect service mesh and reports, with evidence, whether it behaves as
// expected.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/scenario-tool/scenario/reaper"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// A run allocates a few megabytes: with Go's default, its one
		// collection comes while the sidecars start, and its mark workers
		// take idle cores from them. Five times the live heap keeps a
		// short run free of collections and a long one (up) bounded.
		debug.SetGCPercent(400)
		if os.Getenv("GOMEMLIMIT") == "" {
			// ... but not without bound: five times a heap that grows (a
			// wire capture keeps every frame, a command's output streams
			// through) would take the memory the agents need. The limit is
			// well above a run's own heap (a few MB) and a long capture's,
			// so that the collector does not run again and again there.
			debug.SetMemoryLimit(256 << 20)
		}
	}
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
				fs.BoolVar(&validateJSON, "json", false, "print one JSON object per file, one per line (JSON Lines): file, name,\nsteps, valid, errors, warnings (stderr has only a summary line)")
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
