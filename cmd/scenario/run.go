package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/scenario-tool/scenario/netns"
	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/reaper"
	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/runner/htmlreport"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// runFlags are the flags of run and up.
type runFlags struct {
	consul, logs, junit, shard, format string
	html                               string
	runPattern, skipPattern            string
	agent                              string // an existing cluster's agent (--agent)
	allowWrites                        bool
	noColor, json, inNetns, failFast   bool
	skipInvalid, keepOnFailure         bool
	parallel, count                    int
	timeout                            time.Duration
	// deadline is --timeout from the start; a --parallel child gets its
	// parent's as Unix milliseconds (--deadline, internal).
	deadline   time.Time
	deadlineMS int64
	selection  *runner.Selection // --run and --skip, once checked
}

// Output formats of run and up (--format).
const (
	formatText      = runner.FormatText
	formatJSON      = runner.FormatJSON
	formatTest2JSON = runner.FormatTest2JSON
)

func (f *runFlags) register(fs *flag.FlagSet, verb string) {
	fs.StringVar(&f.consul, "consul", "", "consul binary `PATH` (default: $CONSUL, bin/consul, then PATH)")
	fs.StringVar(&f.logs, "logs", "logs", "process logs go to `DIR`/<scenario>/")
	fs.BoolVar(&f.noColor, "no-color", false, "plain output (also when NO_COLOR is set, or when not a terminal\nunless FORCE_COLOR is set)")
	fs.StringVar(&f.format, "format", formatText, "`FORMAT` of the report on stdout: text; json, a stream of JSON\nevents; test2json, the events of go test -json (scenarios as\ntests, steps as subtests) for gotestsum, tparse and the like")
	fs.BoolVar(&f.json, "json", false, "the same as --format json")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to `FILE`")
	fs.StringVar(&f.html, "html", "", "also write a self-contained HTML report to `FILE`: a timeline per\nscenario, the topology, each step's evidence (docs/guides/html-report.md)")
	if verb == "up" {
		fs.BoolVar(&f.keepOnFailure, "keep-on-failure", false, "when a step fails, keep everything up as it was until Ctrl-C,\nto inspect the mesh (exit 1 after cleanup)")
		return
	}
	fs.BoolVar(&f.skipInvalid, "skip-invalid", false, "run the valid scenarios even when other files are invalid\n(which are reported, and recorded in --junit; exit 2)")
	fs.StringVar(&f.shard, "shard", "", "run only the I-th of N disjoint shards of the scenarios\n(`I/N`, e.g. 2/4)")
	fs.IntVar(&f.parallel, "parallel", 1, "run up to `N` scenarios at once, each in its own network\nnamespace (needs root; otherwise runs them one by one)")
	fs.StringVar(&f.runPattern, "run", "", "run only the scenarios whose name matches `REGEX`; SCENARIO/STEP\nalso stops each after the last step whose name matches STEP")
	fs.StringVar(&f.skipPattern, "skip", "", "run none of the scenarios whose name matches `REGEX` (as go test -skip;\nwith --run, what --run selects less what --skip matches)")
	fs.IntVar(&f.count, "count", 1, "run each scenario `N` times (one round after another)")
	fs.BoolVar(&f.failFast, "fail-fast", false, "start no further scenario once one has failed")
	fs.DurationVar(&f.timeout, "timeout", 0, "stop the whole run after `DURATION` (e.g. 10m): the scenario\nrunning fails, naming the timeout, and no further one starts")
	// Internal: set by a parallel run for its children, which it has
	// started in a new network namespace.
	if verb == "run" {
		fs.StringVar(&f.agent, "agent", "", "run against an existing Consul agent at `ADDR` (host:port; its token\nfrom $CONSUL_HTTP_TOKEN) instead of starting one: read-only unless\n--allow-writes; probes go through the sidecars running there, each\nshown to be that cluster's (its leaf chains to the cluster's CA)")
		fs.BoolVar(&f.allowWrites, "allow-writes", false, allowWritesHelp())
	}
	fs.BoolVar(&f.inNetns, "in-netns", false, "")
	fs.Int64Var(&f.deadlineMS, "deadline", 0, "")
}

// allowWritesHelp says, from the step registry, which steps --allow-writes
// lets change the live cluster, and which of their changes stay.
func allowWritesHelp() string {
	undone, notUndone := steps.Default().AgentHelp()
	return wrapWords("with --agent: let steps change the live cluster. What "+listWords(undone)+
		" change is undone at the end; what "+listWords(notUndone)+" commands change is NOT undone (the report lists those steps)", 64)
}

// listWords joins names as "a, b and c".
func listWords(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// wrapWords breaks text into lines of at most width characters, at spaces.
func wrapWords(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
		case line+1+len(w) > width:
			b.WriteByte('\n')
			line = 0
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// runOrUp checks the flags, builds the Suite of the files given, runs it
// under this process's guard (the reaper, signals) and returns the exit
// status.
func runOrUp(verb string, f *runFlags, paths []string, stdout, stderr io.Writer) int {
	if err := f.begin(verb, paths); err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	// The reaper starts while the files are read and checked; it runs
	// before anything is started (guard waits for it).
	reaperStarted := startReaper()
	suite, code := f.suite(verb, paths, stdout, stderr)
	if suite == nil {
		if rp, err := reaperStarted(); err == nil && rp != nil {
			// Nothing ran: what carries its mark is another run's.
			rp.UnwatchMark()
			rp.Close()
		}
		return code
	}
	// What runs killed together with their reaper left (their namespaces
	// and cgroups) goes before this one adds its own.
	sweepLeftovers(stderr)
	var release func()
	suite.Options.Guardian, release = guard(stderr, reaperStarted)
	defer release()

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	force := make(chan struct{})
	interrupted := watchSignals(stdout, stderr, cancel, force)
	suite.Options.Force = force
	if !f.inNetns && suite.Options.ConsulErr == nil && (f.html != "" || f.format == formatJSON) {
		suite.Options.ConsulVersion = consulVersionLater(suite.Options.Consul)
	}
	if f.parallel > 1 {
		suite.Parallel = func(ctx context.Context, scenarios []*runner.Scenario, opts runner.Options, stop func() bool, ended func(runner.Result)) []runner.Result {
			return runParallel(ctx, scenarios, f, opts, interrupted, stderr, stop, ended)
		}
	}
	ran, err := suite.Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "scenario:", err)
		return exitInvalid
	}
	status := f.exitStatus(context.Cause(ctx), ran, len(suite.Invalid), stdout, stderr)
	if ran.ReportErr != nil {
		// A CI that reads the report must not take its absence for a pass.
		fmt.Fprintln(stderr, "scenario:", ran.ReportErr)
		if status == exitPassed {
			status = exitFailed
		}
	}
	return status
}

// begin settles the flags' defaults and checks them before anything is
// read; the invocation's --timeout starts now.
func (f *runFlags) begin(verb string, paths []string) error {
	if f.parallel == 0 {
		f.parallel = 1
	}
	if f.count == 0 && verb == "up" {
		f.count = 1
	}
	if f.json {
		if f.format != formatText && f.format != formatJSON {
			return fmt.Errorf("scenario %s: --json and --format %s contradict each other; give one", verb, f.format)
		}
		f.format = formatJSON
	}
	switch {
	case len(paths) == 0:
		return fmt.Errorf("scenario %s: give a scenario file, e.g. scenario %s scenarios/basic.yaml", verb, verb)
	case verb == "up" && len(paths) != 1:
		return errors.New("scenario up: give exactly one scenario file")
	case f.parallel < 1:
		return errors.New("scenario run: --parallel takes a number of at least 1")
	case f.count < 1:
		return errors.New("scenario run: --count takes a number of at least 1")
	case f.timeout < 0:
		return errors.New("scenario run: --timeout takes a positive duration, e.g. 10m")
	case f.format != formatText && f.format != formatJSON && f.format != formatTest2JSON:
		return fmt.Errorf("scenario %s: --format %q: give text, json or test2json", verb, f.format)
	}
	if f.runPattern != "" || f.skipPattern != "" {
		var err error
		if f.selection, err = runner.NewSelection(f.runPattern, f.skipPattern); err != nil {
			return fmt.Errorf("scenario run: %w", err)
		}
	}
	switch {
	case f.deadlineMS > 0:
		f.deadline = time.UnixMilli(f.deadlineMS)
	case f.timeout > 0:
		f.deadline = time.Now().Add(f.timeout)
	}
	if f.inNetns {
		if err := netns.LoopbackUp(); err != nil {
			return fmt.Errorf("scenario: bringing up loopback in the new network namespace: %w", err)
		}
	}
	return nil
}

// suite reads the files given and builds the Suite that runs them. A nil
// Suite starts nothing, for the reasons said on stderr, and exits with
// the status returned.
func (f *runFlags) suite(verb string, paths []string, stdout, stderr io.Writer) (*runner.Suite, int) {
	files, err := expand(paths)
	if err != nil {
		fmt.Fprintf(stderr, "scenario %s: %v\n", verb, err)
		return nil, exitInvalid
	}
	if f.shard != "" {
		if files, err = runner.Shard(files, f.shard); err != nil {
			fmt.Fprintln(stderr, "scenario run:", err)
			return nil, exitInvalid
		}
		if len(files) == 0 {
			fmt.Fprintf(stderr, "scenario run: shard %s holds no scenario (fewer scenarios than shards)\n", f.shard)
			return nil, exitPassed
		}
	}
	loadOpts, external, err := f.against()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitInvalid
	}
	// Under --agent, what cannot run against a live cluster (or needs
	// --allow-writes) is refused here, before anything is asked of it.
	scenarios, invalid := loadAll(files, stderr, loadOpts...)
	if !f.inNetns && f.format != formatTest2JSON {
		// A --parallel child's parent has shown them; test2json puts them
		// in the stream, as output of each scenario's test. Only the
		// selected scenarios': the others do not run.
		var selected []*runner.Scenario
		for _, sc := range scenarios {
			if f.selection.Picks(sc) {
				selected = append(selected, sc)
			}
		}
		printWarnings(selected, stderr)
	}
	suite := &runner.Suite{Scenarios: scenarios, Invalid: invalid, Selection: f.selection, Reports: f.reports(stdout),
		Count: f.count, FailFast: f.failFast, Deadline: f.deadline, DeadlineCause: timeoutCause(f)}
	if len(invalid) > 0 && (!f.skipInvalid || len(scenarios) == 0) {
		// Nothing starts: record the invalid files where a CI looks.
		if err := suite.Reports.RecordInvalid(invalid); err != nil {
			fmt.Fprintln(stderr, "scenario:", err)
		}
		if len(scenarios) > 0 {
			fmt.Fprintf(stderr, "scenario %s: %d of %d files are invalid; nothing was started (--skip-invalid runs the valid ones)\n", verb, len(invalid), len(files))
		}
		return nil, exitInvalid
	}
	if err := suite.Select(stderr); err != nil {
		fmt.Fprintln(stderr, "scenario run:", err)
		return nil, exitInvalid
	}
	consul, consulErr := runner.FindConsul(f.consul)
	if consulErr != nil && needsAgent(suite.Scenarios) {
		fmt.Fprintln(stderr, "scenario:", consulErr)
		return nil, exitInvalid
	}
	suite.Options = f.options(verb, consul, consulErr, external, stderr)
	if !suite.CheckLogFolders(stderr) {
		return nil, exitInvalid
	}
	return suite, exitPassed
}

// against is what --agent and --allow-writes make of loading and running:
// Consul judges the definitions, and under --agent the scenarios run
// against an existing cluster.
func (f *runFlags) against() ([]scenariofile.Option, *runner.ExternalAgent, error) {
	loadOpts := []scenariofile.Option{consulJudge(f.consul)}
	switch {
	case f.agent != "" && f.parallel > 1:
		return nil, nil, errors.New("scenario run: --agent runs against one existing cluster: --parallel does not apply (it gives each scenario a network of its own)")
	case f.agent != "":
		return append(loadOpts, scenariofile.AgainstExistingCluster(f.allowWrites)),
			&runner.ExternalAgent{Address: f.agent, Token: os.Getenv("CONSUL_HTTP_TOKEN"), AllowWrites: f.allowWrites}, nil
	case f.allowWrites:
		return nil, nil, errors.New("scenario run: --allow-writes goes with --agent (a scenario's own agent is always writable)")
	}
	return loadOpts, nil, nil
}

// reports are --format, --junit and --html; whether stdout is a terminal,
// and coloured, is the CLI's to say.
func (f *runFlags) reports(stdout io.Writer) runner.Reports {
	tty := isTerminal(stdout)
	r := runner.Reports{Out: stdout, Format: f.format, Color: useColor(f.noColor, tty), Terminal: tty,
		JUnit: f.junit, HTML: f.html, WriteHTML: func(file string, events []runner.Event) error {
			return htmlreport.WriteFile(file, events, htmlreport.Options{})
		}}
	if f.inNetns {
		r.Format = formatJSON // a --parallel child's events go to its parent
	}
	return r
}

// options are each scenario run's; up holds the mesh once its steps are
// done (or, with --keep-on-failure, once one failed).
func (f *runFlags) options(verb, consul string, consulErr error, external *runner.ExternalAgent, stderr io.Writer) runner.Options {
	opts := runner.Options{LogsDir: f.logs, Consul: consul, ConsulErr: consulErr, Agent: external, Command: commandLine}
	if verb == "up" {
		opts.Hold = func(ctx context.Context, h runner.Held) {
			holdUntilDone(ctx, f.logs, "everything is up", h, stderr)
		}
		if f.keepOnFailure {
			opts.HoldFailed = func(ctx context.Context, h runner.Held) {
				holdUntilDone(ctx, f.logs, "a step failed; everything is kept up as it was (--keep-on-failure)", h, stderr)
			}
		}
	}
	return opts
}

// startReaper starts the reaper (see package reaper) in the background;
// the function it returns waits until it has started, or failed to (nil
// and no error: this executable could not be found).
func startReaper() func() (*reaper.Reaper, error) {
	type started struct {
		rp  *reaper.Reaper
		err error
	}
	done := make(chan started, 1)
	go func() {
		self, err := os.Executable()
		if err != nil {
			done <- started{}
			return
		}
		rp, err := reaper.Start(self, os.Stderr)
		done <- started{rp, err}
	}()
	return sync.OnceValues(func() (*reaper.Reaper, error) {
		s := <-done
		return s.rp, s.err
	})
}

// guard waits for the reaper, which kills what this process started if
// it dies without stopping it (SIGKILL, a crash); orphans of started
// processes are adopted here so that their groups can be reaped. release
// removes the run's cgroup, then stops the reaper.
func guard(stderr io.Writer, reaperStarted func() (*reaper.Reaper, error)) (guardian proc.Guardian, release func()) {
	rp, err := reaperStarted()
	if err != nil {
		fmt.Fprintf(stderr, "scenario: %v; processes may outlive this run if it is killed with SIGKILL\n", err)
	}
	runCellUsers.Lock()
	runCellUsers.n++
	runCellUsers.Unlock()
	cell := ""
	if rp != nil {
		guardian = rp
		// Every process the run starts is born in a cgroup of the
		// run's: the reaper kills what is in it if this process dies.
		if cell = proc.RunCell(); cell != "" {
			rp.WatchCell(cell)
		}
	}
	_ = proc.BecomeSubreaper()
	return guardian, func() {
		// The run's cgroup is this process's: runs of one process (tests
		// calling the CLI side by side) share it, and only the last one
		// to end kills what is left in it and removes it.
		runCellUsers.Lock()
		runCellUsers.n--
		last := runCellUsers.n == 0
		var err error
		if last {
			if err = proc.RemoveRunCell(); err != nil {
				fmt.Fprintln(stderr, "scenario:", err)
			}
		}
		runCellUsers.Unlock()
		if rp == nil {
			return
		}
		if !last {
			// The processes carrying this process's mark are the other
			// runs' now.
			rp.UnwatchMark()
		}
		if cell != "" && (!last || err == nil) {
			// This run's processes are stopped: its reaper, which hunts
			// after this process has exited or a second has passed, must
			// not kill the cgroup that another run of this process still
			// uses or makes again; an unremoved cgroup stays its to kill.
			rp.UnwatchCell(cell)
		}
		rp.Close()
	}
}

// runCellUsers counts the runs of this process under guard, which share
// the run's cgroup (proc.RunCell).
var runCellUsers struct {
	sync.Mutex
	n int
}

// consulVersionLater asks consul's version beside the first scenario
// rather than before it, for the reports made from the events.
func consulVersionLater(consul string) func() string {
	version, hurry := make(chan string, 1), make(chan struct{})
	// At the lowest CPU priority while nothing waits for it: a consul
	// process's start (about 45 ms of CPU on 2 cores) would otherwise
	// take the cores from the agents the run starts. Once the scenario's
	// end waits for it, it goes back to the normal priority (where this
	// process may raise it: as root), so a busy machine does not hold
	// the end up.
	go func() { v, _ := consulVersionAt(consul, hurry); version <- v }()
	return sync.OnceValue(func() string {
		close(hurry)
		return <-version
	})
}

// exitStatus says how the suite ended (the summary on stdout, the runs
// that did not start on stderr) and returns the exit status; cause is
// why the run's context ended, if it did.
func (f *runFlags) exitStatus(cause error, ran runner.SuiteResult, invalid int, stdout, stderr io.Writer) int {
	code := exitCode(ran.Results, ran.NotRun, stdout, f.format != formatText)
	var intr runner.Interrupt
	interrupted := errors.As(cause, &intr)
	switch {
	case interrupted:
	case ran.Cut != nil:
		fmt.Fprintf(stderr, "scenario run: %v; %d scenario runs did not start\n", ran.Cut, ran.NotRun)
		code = max(code, exitFailed)
	case ran.NotRun > 0:
		fmt.Fprintf(stderr, "scenario run: a scenario failed; %d scenario runs did not start (--fail-fast)\n", ran.NotRun)
	}
	// up ends by an interrupt; it says so, as its help does.
	if interrupted && code == exitPassed {
		code = exitInterrupted
	}
	if code == exitPassed && invalid > 0 {
		fmt.Fprintf(stderr, "scenario run: %d invalid files were skipped\n", invalid)
		return exitInvalid
	}
	return code
}

// timeoutCause is what a scenario cut short by --timeout fails with. A
// --parallel child knows only the deadline its parent passed on.
func timeoutCause(f *runFlags) error {
	if f.inNetns {
		return errors.New("the run's --timeout passed")
	}
	return fmt.Errorf("the run's --timeout of %s passed", f.timeout)
}

func exitCode(results []runner.Result, notRun int, stdout io.Writer, quiet bool) int {
	passed, failed, notRunnable, interrupted := 0, 0, 0, false
	for _, r := range results {
		switch r.Outcome {
		case runner.Passed:
			passed++
		case runner.Interrupted:
			interrupted = true
		case runner.NotRunnable:
			notRunnable++
		default:
			failed++
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if notRunnable > 0 {
		summary += fmt.Sprintf(", %d not runnable here", notRunnable)
	}
	switch {
	case quiet:
	case notRun > 0:
		fmt.Fprintf(stdout, "%s, %d skipped\n", summary, notRun)
	case len(results) > 1:
		fmt.Fprintln(stdout, summary)
	}
	switch {
	case interrupted:
		return exitInterrupted
	case failed > 0 || notRunnable > 0:
		// Not a pass: what could not run here proved nothing.
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
