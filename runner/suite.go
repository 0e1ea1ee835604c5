package runner

import (
	"context"
	"sync/atomic"
	"time"
)

// A Suite is one invocation's scenarios and how to run them: Count
// rounds, one after another, each in turn or, with Parallel, at once; no
// scenario starts once Deadline has passed or, with FailFast, once one
// has failed. What a command adds (files, selection, shards, reports) is
// the command's; the order of starting and stopping is the Suite's.
type Suite struct {
	Scenarios []*Scenario
	Options   Options
	// Count is the number of rounds (at least 1): two runs of a scenario
	// never overlap, so they never share its log folder or ports.
	Count    int
	FailFast bool
	// Deadline, when set, ends the whole invocation: the scenario running
	// then fails with DeadlineCause, and no further one starts.
	Deadline      time.Time
	DeadlineCause error
	// Parallel, when set, runs one round's scenarios at once (the CLI's
	// --parallel runs each in a child process of its own); it must start
	// none once stop says so, and call ended as each ends.
	Parallel func(ctx context.Context, scenarios []*Scenario, stop func() bool, ended func(Result)) []Result
}

// SuiteResult is how a Suite ended.
type SuiteResult struct {
	Results []Result
	// NotRun counts the scenario runs that never started (the deadline,
	// --fail-fast, an interrupt).
	NotRun int
	// Cut is why runs were left unstarted by the deadline (nil otherwise).
	Cut error
}

// Run runs the suite until its rounds are done, or ctx ends.
func (s Suite) Run(ctx context.Context) SuiteResult {
	runCtx := ctx
	if !s.Deadline.IsZero() {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadlineCause(ctx, s.Deadline, s.DeadlineCause)
		defer cancel()
	}
	var anyFailed atomic.Bool
	stop := func() bool { return runCtx.Err() != nil || s.FailFast && anyFailed.Load() }
	ended := func(res Result) {
		if res.Outcome == Failed {
			anyFailed.Store(true)
		}
	}
	var out SuiteResult
	for round := 0; round < max(s.Count, 1); round++ {
		var rs []Result
		switch {
		case stop():
		case s.Parallel != nil && len(s.Scenarios) > 1:
			rs = s.Parallel(runCtx, s.Scenarios, stop, ended)
		default:
			rs = InTurn(runCtx, s.Scenarios, s.Options, stop, ended)
		}
		out.NotRun += len(s.Scenarios) - len(rs)
		out.Results = append(out.Results, rs...)
	}
	if out.NotRun > 0 && runCtx.Err() != nil {
		out.Cut = context.Cause(runCtx)
	}
	return out
}

// InTurn runs scenarios one after another until one is interrupted or
// stop says no further one may start, calling ended as each ends (a
// Suite's round, and --parallel's where namespaces are not permitted).
func InTurn(ctx context.Context, scenarios []*Scenario, opts Options, stop func() bool, ended func(Result)) []Result {
	var results []Result
	for _, sc := range scenarios {
		if stop() {
			break
		}
		res := Run(ctx, sc, opts)
		results = append(results, res)
		ended(res)
		if res.Outcome == Interrupted {
			break
		}
	}
	return results
}
