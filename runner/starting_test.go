package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/steps"
)

// startingStep is a Starter whose Start takes delay, then starts the
// process proc (if any) and fails (if fail); it may begin while another
// startingStep's Start still runs (steps.BesideStarting), and beside it.
type startingStep struct {
	funcStep
	delay time.Duration
	proc  string
	fail  bool
}

func (s startingStep) Start(ctx context.Context, env steps.Env) (func(context.Context) error, error) {
	recordStart()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.fail {
		return nil, errors.New(s.label + " could not start")
	}
	if s.proc != "" {
		p, err := env.Start(s.proc, []string{"sleep", "33.3"})
		if err != nil {
			return nil, err
		}
		sleepersMu.Lock()
		sleepers = append(sleepers, p.Pid())
		sleepersMu.Unlock()
	}
	return func(context.Context) error { return nil }, nil
}

func (s startingStep) BesideStarting(starting steps.Step) bool {
	_, ok := starting.(startingStep)
	return ok
}

func (s startingStep) Beside(pending steps.Step) bool {
	_, ok := pending.(startingStep)
	return ok
}

func init() {
	starting := func(name string, delay time.Duration, proc string, fail bool) {
		testTypes = append(testTypes, testType(name, 5*time.Second, func() steps.Step {
			return startingStep{funcStep: funcStep{label: name}, delay: delay, proc: proc, fail: fail}
		}))
	}
	starting("test-starting-150ms", 150*time.Millisecond, "", false)
	starting("test-starting-150ms-first", 150*time.Millisecond, "first", false)
	starting("test-starting-at-once", 0, "", false)
	starting("test-starting-second", 0, "second", false)
	starting("test-starting-fails-100ms", 100*time.Millisecond, "", true)
}

// Consecutive steps that may start beside each other's Start do: three
// Starts of 150 ms each begin together, and each step still reports as
// itself, in order.
func TestStartsOfStepsBesideStartingOnesOverlap(t *testing.T) {
	starts := runPassing(t, "name: s\nsteps:\n  - test-starting-150ms: {}\n  - test-starting-150ms: {}\n  - test-starting-150ms: {}\n  - test-ok: {}\n",
		"ok    1 test-starting-150ms", "ok    2 test-starting-150ms", "ok    3 test-starting-150ms", "ok    4 test-ok")
	if len(starts) != 3 || starts[2]-starts[0] >= 150*time.Millisecond {
		t.Errorf("the three Starts began at %v: one after the other", starts)
	}
}

// A step that may go beside a pending step, but not beside its Start
// still running, begins once that Start has returned.
func TestAStepWaitsForTheStartsItMayNotGoBeside(t *testing.T) {
	starts := runPassing(t, "name: s\nsteps:\n  - test-starting-150ms: {}\n  - test-starting-at-once: {}\n  - test-beside-ok: {}\n",
		"ok    1 test-starting-150ms", "ok    2 test-starting-at-once", "ok    3 test-beside-ok")
	if len(starts) != 3 || starts[2]-starts[0] < 150*time.Millisecond {
		t.Errorf("the steps began at %v: the third began before the Starts had returned", starts)
	}
}

// Processes whose steps started side by side are stopped in the reverse
// order of their steps, not of their starts: step 2's, started first,
// goes first.
func TestCleanupStopsInStepOrderWhateverOrderTheStartsCameIn(t *testing.T) {
	var order []string
	src := "name: s\nsteps:\n  - test-starting-150ms-first: {}\n  - test-starting-second: {}\n"
	res, out := runSource(t, src, context.Background())
	if res.Outcome != Passed {
		t.Fatalf("%+v\n%s", res, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "cleanup: stopped") {
			order = append(order, line)
		}
	}
	if len(order) != 1 || !strings.Contains(order[0], "cleanup: stopped second, first") {
		t.Errorf("cleanup: %q\n%s", order, out)
	}
	if sleeperRunning() {
		t.Error("a started process was left running")
	}
}

// A Start that fails in the background fails its own step, reported
// after the steps before it; the step that began beside it is skipped,
// and what it started is stopped.
func TestAFailedBackgroundStartFailsItsOwnStep(t *testing.T) {
	runFailing(t, "name: s\nsteps:\n  - test-starting-150ms: {}\n  - test-starting-fails-100ms: {}\n  - test-starting-second: {}\n  - test-ok: {}\n", 1,
		"ok    1 test-starting-150ms", "FAIL  2 test-starting-fails-100ms", "test-starting-fails-100ms could not start", "skip  3 test-starting-second", "skip  4 test-ok",
		"cleanup: stopped second")
	if sleeperRunning() {
		t.Error("a started process was left running")
	}
}
