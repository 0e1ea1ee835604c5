package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
	"github.com/scenario-tool/scenario/wait"
)

// Test-only step types: they exist in this test binary's own registry
// (testRegistry), not in the built-in one.
type funcStep struct {
	label string
	run   func(ctx context.Context, env steps.Env) error
}

func (f funcStep) Run(ctx context.Context, env steps.Env) error { return f.run(ctx, env) }
func (f funcStep) String() string                               { return f.label }

func init() {
	register := func(name string, run func(ctx context.Context, env steps.Env) error) {
		testTypes = append(testTypes, funcType(name, run))
	}
	register("test-panic", func(context.Context, steps.Env) error { panic("boom") })
	register("test-ok", func(context.Context, steps.Env) error { return nil })
	register("test-start", func(ctx context.Context, env steps.Env) error {
		p, err := env.Start("sleeper", []string{"sleep", "33.3"})
		if err == nil {
			sleepersMu.Lock()
			sleepers = append(sleepers, p.Pid())
			sleepersMu.Unlock()
		}
		return err
	})
	register("test-block", func(ctx context.Context, env steps.Env) error { <-ctx.Done(); return ctx.Err() })
	register("test-fail", func(context.Context, steps.Env) error { return errors.New("it went wrong") })
}

// testTypes are added by this package's test files' init functions.
var testTypes []steps.Type

// testType is a test-only step type without keys, whose steps newStep makes.
func testType(name string, timeout time.Duration, newStep func() steps.Step) steps.Type {
	return steps.Type{Name: name, Summary: "test only", Cluster: steps.Reads(), Example: "- " + name + ": {}", Timeout: timeout,
		Schema: map[string]any{"type": "object"},
		Decode: func(*spec.Decoder, *yaml.Node) steps.Step { return newStep() }}
}

// funcType is a test-only step type whose steps call run.
func funcType(name string, run func(ctx context.Context, env steps.Env) error) steps.Type {
	return testType(name, time.Second, func() steps.Step { return funcStep{label: name, run: run} })
}

// testRegistry is the built-in step types and the test-only ones.
var testRegistry = sync.OnceValue(func() *steps.Registry { return steps.Default().With(testTypes...) })

func runSource(t *testing.T, src string, ctx context.Context) (Result, string) {
	t.Helper()
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte(src), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res := Run(ctx, sc, Options{Observer: NewReporter(&out, false, false), LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond})
	return res, out.String()
}

// sleepers are the process groups the test-start step had the session
// start (a leader's pid is its group's id).
var (
	sleepersMu sync.Mutex
	sleepers   []int
)

// sleeperRunning reports whether a member of a group the session started
// for test-start still runs.
func sleeperRunning() bool {
	sleepersMu.Lock()
	defer sleepersMu.Unlock()
	for _, pgid := range sleepers {
		if proc.GroupRunning(pgid) {
			return true
		}
	}
	return false
}

func TestPanicFailsTheStepAndCleansUp(t *testing.T) {
	runFailing(t, "name: p\nsteps:\n  - test-start: {}\n  - test-panic: {}\n  - test-ok: {}\n", 1,
		"FAIL  2 test-panic", "the step panicked (a bug in scenario, please report it): boom", "skip  3 test-ok", "cleanup: stopped sleeper", "--- FAIL p: step 2")
	if sleeperRunning() {
		t.Error("the started process was left running")
	}
}

func TestStepTimeoutIsNamed(t *testing.T) {
	res, out := runSource(t, "name: t\nsteps:\n  - test-block: {}\n    timeout: 50ms\n", context.Background())
	if res.Outcome != Failed || !strings.Contains(out, "the step's timeout of 50ms passed") {
		t.Fatalf("%+v\n%s", res, out)
	}
}

func TestScenarioTimeoutIsNamed(t *testing.T) {
	res, out := runSource(t, "name: t\ntimeout: 50ms\nsteps:\n  - test-ok: {}\n  - test-block: {}\n  - test-ok: {}\n", context.Background())
	if res.Outcome != Failed || !strings.Contains(out, "the scenario's timeout of 50ms passed") || !strings.Contains(out, "skip  3") {
		t.Fatalf("%+v\n%s", res, out)
	}
}

func TestInterruptIsNotAFailure(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { cancel(Interrupt{Signal: os.Interrupt}) }()
	res, out := runSource(t, "name: i\nsteps:\n  - test-start: {}\n  - test-block: {}\n", ctx)
	if res.Outcome != Interrupted || !strings.Contains(out, "--- INTERRUPTED i") {
		t.Fatalf("%+v\n%s", res, out)
	}
	if sleeperRunning() {
		t.Error("the started process was left running")
	}
}

func TestFailureStopsTheScenario(t *testing.T) {
	res, out := runSource(t, "name: f\nsteps:\n  - test-fail: {}\n  - test-ok: {}\n", context.Background())
	if res.Outcome != Failed || !strings.Contains(out, "it went wrong") || !strings.Contains(out, "skip  2 test-ok") {
		t.Fatalf("%+v\n%s", res, out)
	}
}

// starterStep starts at once and becomes ready (or fails) when told.
type starterStep struct {
	funcStep
	start func() func(ctx context.Context) error
}

func (s starterStep) Start(context.Context, steps.Env) (func(context.Context) error, error) {
	if s.start == nil {
		return nil, errors.New(s.label + " could not start")
	}
	return s.start(), nil
}
func (s starterStep) Beside(pending steps.Step) bool {
	_, starter := pending.(starterStep)
	return starter
}

// started records when the test starters started, to tell overlapping
// starts from one-by-one ones without timing the whole run.
var (
	startedMu sync.Mutex
	started   []time.Time
)

// recordStart notes that a test step started now.
func recordStart() {
	startedMu.Lock()
	started = append(started, time.Now())
	startedMu.Unlock()
}

// runPassing runs src from no recorded starts: it must pass, reporting
// wants in their order. It returns when each start was recorded, from
// the run's beginning.
func runPassing(t *testing.T, src string, wants ...string) []time.Duration {
	t.Helper()
	startedMu.Lock()
	started = nil
	startedMu.Unlock()
	begin := time.Now()
	res, out := runSource(t, src, context.Background())
	if res.Outcome != Passed {
		t.Fatalf("%+v\n%s", res, out)
	}
	rest := out
	for _, want := range wants {
		_, after, ok := strings.Cut(rest, want)
		if !ok {
			t.Errorf("%q is not reported, or not in order:\n%s", want, out)
			break
		}
		rest = after
	}
	startedMu.Lock()
	defer startedMu.Unlock()
	var at []time.Duration
	for _, s := range started {
		at = append(at, s.Sub(begin))
	}
	return at
}

// endsAfter is a wait that ends d from now with err, or earlier with
// ctx's error.
func endsAfter(d time.Duration, err error) func(ctx context.Context) error {
	at := time.After(d)
	return func(ctx context.Context) error {
		select {
		case <-at:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// failure is errors.New(text) if fail, else nil.
func failure(fail bool, text string) error {
	if fail {
		return errors.New(text)
	}
	return nil
}

func init() {
	slow := func(name string, after time.Duration, fail bool) {
		testTypes = append(testTypes, testType(name, 5*time.Second, func() steps.Step {
			return starterStep{funcStep: funcStep{label: name}, start: func() func(ctx context.Context) error {
				recordStart()
				return endsAfter(after, failure(fail, name+" never became ready")) // it comes up on its own from its start
			}}
		}))
	}
	testTypes = append(testTypes, testType("test-start-fails", time.Second, func() steps.Step {
		return starterStep{funcStep: funcStep{label: "test-start-fails"}}
	}))
	slow("test-ready-200ms", 200*time.Millisecond, false)
	slow("test-fails-100ms", 100*time.Millisecond, true)
	slow("test-ready-600ms", 600*time.Millisecond, false)
}

// Starts beside pending steps overlap: three 200 ms readiness waits take about
// 200 ms, and each step still reports as itself, in order.
func TestStartsBesidePendingStepsOverlap(t *testing.T) {
	starts := runPassing(t, "name: o\nsteps:\n  - test-ready-200ms: {}\n  - test-ready-200ms: {}\n  - test-ready-200ms: {}\n  - test-ok: {}\n",
		"ok    1 test-ready-200ms", "ok    2 test-ready-200ms", "ok    3 test-ready-200ms", "ok    4 test-ok")
	// One by one, each start would come 200 ms after the one before; they
	// overlap when all three start before the first is ready.
	if len(starts) != 3 || starts[2]-starts[0] >= 200*time.Millisecond {
		t.Errorf("the three starts came at %v: they did not overlap", starts)
	}
}

// A pending step that fails is reported as itself, not as the step that
// was running when its failure was noticed.
func TestPendingFailureBlamesItsOwnStep(t *testing.T) {
	runFailing(t, "name: o\nsteps:\n  - test-ready-200ms: {}\n  - test-fails-100ms: {}\n  - test-ready-200ms: {}\n  - test-ok: {}\n", 1,
		"ok    1 test-ready-200ms", "FAIL  2 test-fails-100ms", "test-fails-100ms never became ready", "skip  3 test-ready-200ms", "skip  4 test-ok", "--- FAIL o: step 2")
}

// besideStep is a one-call step that may run beside pending starters.
type besideStep struct{ funcStep }

func (besideStep) Beside(steps.Step) bool { return true }

func init() {
	for name, fail := range map[string]bool{"test-beside-ok": false, "test-beside-fails": true} {
		testTypes = append(testTypes, testType(name, time.Second, func() steps.Step {
			return besideStep{funcStep{label: name, run: func(context.Context, steps.Env) error {
				recordStart()
				return failure(fail, name+" went wrong")
			}}}
		}))
	}
}

// A one-call step that may go beside a pending one runs at once, and is
// reported after it, in order.
func TestRunnerStepsGoBesidePendingOnes(t *testing.T) {
	starts := runPassing(t, "name: o\nsteps:\n  - test-ready-200ms: {}\n  - test-beside-ok: {}\n  - test-beside-ok: {}\n  - test-ok: {}\n",
		"ok    1 test-ready-200ms", "ok    2 test-beside-ok", "ok    3 test-beside-ok")
	// starts: the starter, then the two beside steps.
	if len(starts) != 3 || starts[2] >= 200*time.Millisecond {
		t.Errorf("the starter and the beside steps ran %v after the run began: they waited for the pending one", starts)
	}
}

// When a pending step fails after steps beside it ran, those are reported
// as what they did, the scenario fails at the pending step, and nothing
// after them runs.
func TestPendingFailureAfterStepsBesideIt(t *testing.T) {
	runFailing(t, "name: o\nsteps:\n  - test-fails-100ms: {}\n  - test-beside-ok: {}\n  - test-ok: {}\n", 0,
		"FAIL  1 test-fails-100ms", "ok    2 test-beside-ok", "it ran while step 1 was still settling", "skip  3 test-ok", "--- FAIL o: step 1")
}

// A step beside a pending one that fails waits for the pending one's
// report, then fails as itself.
func TestStepBesideFailsAfterPendingReport(t *testing.T) {
	runFailing(t, "name: o\nsteps:\n  - test-ready-200ms: {}\n  - test-beside-fails: {}\n  - test-ok: {}\n", 1,
		"ok    1 test-ready-200ms", "FAIL  2 test-beside-fails", "test-beside-fails went wrong", "skip  3 test-ok")
}

// A step that fails to start is reported after the pending steps before
// it, with its own error.
func TestStartFailureAfterPendingSteps(t *testing.T) {
	out := runFailing(t, "name: o\nsteps:\n  - test-ready-200ms: {}\n  - test-start-fails: {}\n  - test-ok: {}\n", 1,
		"ok    1 test-ready-200ms", "FAIL  2 test-start-fails", "test-start-fails could not start", "skip  3 test-ok")
	if strings.Contains(out, "canceled") {
		t.Errorf("the failure to start is reported as a cancel:\n%s", out)
	}
}

// runFailing runs src, which must fail at the step of index (from 0) with
// each of wants in its report; it returns the report.
func runFailing(t *testing.T, src string, index int, wants ...string) string {
	t.Helper()
	res, out := runSource(t, src, context.Background())
	if res.Outcome != Failed || res.Failed == nil || res.Failed.Index != index {
		t.Fatalf("%+v\n%s", res, out)
	}
	outputHas(t, out, wants...)
	return out
}

// outputHas fails t for each of wants that out lacks.
func outputHas(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// watchStep is a pending step that only watches (steps.Passable): it lets
// test-noted pass, nothing else.
type watchStep struct{ starterStep }

func (watchStep) Passes(next steps.Step) bool {
	f, ok := next.(funcStep)
	return ok && strings.HasPrefix(f.label, "test-noted")
}

func init() {
	testTypes = append(testTypes, funcType("test-noted", func(context.Context, steps.Env) error {
		recordStart()
		return nil
	}))
	testTypes = append(testTypes, funcType("test-noted-400ms", func(ctx context.Context, env steps.Env) error {
		select {
		case <-time.After(400 * time.Millisecond): // it takes that long
		case <-ctx.Done():
		}
		return ctx.Err()
	}))
	watch := func(name string, after time.Duration, fail bool) {
		testTypes = append(testTypes, testType(name, 5*time.Second, func() steps.Step {
			return watchStep{starterStep{funcStep: funcStep{label: name}, start: func() func(ctx context.Context) error {
				return endsAfter(after, failure(fail, name+" saw something")) // the watch runs from its start
			}}}
		}))
	}
	watch("test-watch-200ms", 200*time.Millisecond, false)
	watch("test-watch-fails-100ms", 100*time.Millisecond, true)
}

// The steps a pending watch lets pass run while it watches, and are
// reported after it, in order.
func TestStepsAWatchLetsPassRunWhileItWatches(t *testing.T) {
	starts := runPassing(t, "name: w\nsteps:\n  - test-watch-200ms: {}\n  - test-noted: {}\n  - test-noted: {}\n  - test-ok: {}\n",
		"ok    1 test-watch-200ms", "ok    2 test-noted", "ok    4 test-ok")
	if len(starts) != 2 || starts[1] >= 200*time.Millisecond {
		t.Errorf("the passing steps ran at %v after the run began: they waited for the watch", starts)
	}
}

// A watch that sees something fails the scenario at its own step; the
// steps that passed it are reported as what they did, and the next one
// does not run.
func TestAWatchFailureFailsTheScenarioAtItsStep(t *testing.T) {
	runFailing(t, "name: w\nsteps:\n  - test-watch-fails-100ms: {}\n  - test-noted: {}\n  - test-ok: {}\n", 0,
		"FAIL  1 test-watch-fails-100ms", "test-watch-fails-100ms saw something", "ok    2 test-noted",
		"it ran while step 1 was still settling", "skip  3 test-ok", "--- FAIL w: step 1")
}

// A step the watch does not let pass waits for its verdict: after a
// failed watch it never runs.
func TestAStepAWatchDoesNotLetPassWaitsForIt(t *testing.T) {
	out := runFailing(t, "name: w\nsteps:\n  - test-watch-fails-100ms: {}\n  - test-fail: {}\n", 0,
		"FAIL  1 test-watch-fails-100ms", "skip  2 test-fail")
	if strings.Contains(out, "it went wrong") {
		t.Errorf("test-fail ran:\n%s", out)
	}
}

// besideSlowStep may go beside test-ready-600ms only.
type besideSlowStep struct{ funcStep }

func (besideSlowStep) Beside(pending steps.Step) bool {
	s, ok := pending.(starterStep)
	return ok && s.label == "test-ready-600ms"
}

func init() {
	testTypes = append(testTypes, testType("test-beside-slow", time.Second, func() steps.Step {
		return besideSlowStep{funcStep{label: "test-beside-slow", run: func(context.Context, steps.Env) error {
			recordStart()
			return nil
		}}}
	}))
}

// A step settles only the pending steps up to the last one it may not go
// beside, and runs beside the ones after that.
func TestAStepSettlesOnlyThePendingStepsItMayNotGoBeside(t *testing.T) {
	starts := runPassing(t, "name: p\nsteps:\n  - test-ready-200ms: {}\n  - test-ready-600ms: {}\n  - test-beside-slow: {}\n  - test-ok: {}\n",
		"ok    1 test-ready-200ms", "ok    2 test-ready-600ms", "ok    3 test-beside-slow")
	// starts: the two starters, then the step beside the second.
	if len(starts) != 3 {
		t.Fatalf("starts %v", starts)
	}
	if at := starts[2]; at < 200*time.Millisecond || at >= 600*time.Millisecond {
		t.Errorf("the step ran %v after the run began: it should wait for the first starter (200 ms) and not the second (600 ms)", at)
	}
}

// When a pending step that a later one waited for fails, the pending
// steps after it are reported as skipped, in order, and nothing more runs.
func TestAFailureAmongTheSettledStepsSkipsThePendingRest(t *testing.T) {
	out := runFailing(t, "name: p\nsteps:\n  - test-fails-100ms: {}\n  - test-ready-600ms: {}\n  - test-beside-slow: {}\n  - test-ok: {}\n", 0,
		"FAIL  1 test-fails-100ms", "skip  2 test-ready-600ms", "skip  3 test-beside-slow", "skip  4 test-ok")
	if i, j := strings.Index(out, "skip  2"), strings.Index(out, "skip  3"); j < i {
		t.Errorf("not reported in order:\n%s", out)
	}
	// A starter still pending between the failed step and one that ran
	// beside them both is reported too, in its place.
	out = runFailing(t, "name: p\nsteps:\n  - test-fails-100ms: {}\n  - test-ready-600ms: {}\n  - test-beside-ok: {}\n  - test-ok: {}\n", 0,
		"FAIL  1 test-fails-100ms", "skip  2 test-ready-600ms", "ok    3 test-beside-ok", "skip  4 test-ok")
	if i, j := strings.Index(out, "skip  2"), strings.Index(out, "ok    3"); i < 0 || j < i {
		t.Errorf("not reported in order:\n%s", out)
	}
}

func init() {
	for name, disposable := range map[string]bool{"test-start-stubborn": false, "test-start-stubborn-disposable": true} {
		testTypes = append(testTypes, steps.Type{Name: name, Summary: "test only", Cluster: steps.Reads(), Example: "- " + name + ": {}", Timeout: time.Second,
			Schema: map[string]any{"type": "object"},
			Decode: func(d *spec.Decoder, v *yaml.Node) steps.Step {
				return funcStep{label: name, run: func(ctx context.Context, env steps.Env) error {
					// It ignores SIGTERM, once it has said so: only
					// SIGKILL ends it.
					ready := filepath.Join(env.RunDir(), "ignoring")
					_, err := env.Start("stubborn", []string{"sh", "-c", "trap '' TERM; touch " + ready + "; exec sleep 33.3"}, steps.StartOption{Disposable: disposable})
					if err != nil {
						return err
					}
					return wait.For(ctx, wait.Func("the trap to be set", func(context.Context) error { _, err := os.Stat(ready); return err }), wait.Options{})
				}}
			}})
	}
}

// cleanupTook runs a scenario of one step with the given grace and returns
// how long its cleanup took.
func cleanupTook(t *testing.T, step string, grace time.Duration) time.Duration {
	t.Helper()
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte("name: c\nsteps:\n  - "+step+": {}\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	obs := observerFunc(func(e Event) {
		if e.Event == "cleanup" {
			took = time.Duration(e.DurationMS * float64(time.Millisecond))
		}
	})
	if res := Run(context.Background(), sc, Options{Observer: obs, LogsDir: filepath.Join(dir, "logs"), Grace: grace}); res.Outcome != Passed {
		t.Fatalf("%+v", res)
	}
	return took
}

// A process of which nothing is kept is killed at cleanup, without its
// grace; any other gets SIGTERM and the grace before SIGKILL.
func TestCleanupKillsDisposableProcessesAtOnce(t *testing.T) {
	if took := cleanupTook(t, "test-start-stubborn-disposable", 5*time.Second); took >= 2*time.Second {
		t.Errorf("cleanup of a disposable process that ignores SIGTERM took %s: it waited for the grace", took)
	}
	if took := cleanupTook(t, "test-start-stubborn", 300*time.Millisecond); took < 300*time.Millisecond {
		t.Errorf("cleanup of a process that ignores SIGTERM took %s, less than its grace", took)
	}
}

type observerFunc func(Event)

func (f observerFunc) Observe(e Event) { f(e) }

// A watch is reported with how long it watched, not with how long it
// waited for the runner to ask for its verdict.
func TestAWatchReportsHowLongItWatched(t *testing.T) {
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte("name: w\nsteps:\n  - test-watch-200ms: {}\n  - test-noted-400ms: {}\n"), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var watched float64
	obs := observerFunc(func(e Event) {
		if e.Event == "step-end" && e.Step != nil && e.Step.Index == 1 {
			watched = e.Step.DurationMS
		}
	})
	if res := Run(context.Background(), sc, Options{Observer: obs, LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond}); res.Outcome != Passed {
		t.Fatalf("%+v", res)
	}
	if watched < 200 || watched >= 400 {
		t.Errorf("the watch is reported as %.0f ms; it watched 200 ms, and was asked after 400", watched)
	}
}
