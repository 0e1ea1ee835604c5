package runner

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// A Suite is one invocation's scenarios and how to run them: which of
// them (Selection), Count rounds, one after another, each in turn or,
// with Parallel, at once; no scenario starts once Deadline has passed or,
// with FailFast, once one has failed. Reports tell of the runs as they
// go. Finding and reading the files, and the process around the runs
// (signals, the reaper, the terminal) are the command's.
type Suite struct {
	Scenarios []*Scenario
	// Invalid are the files that did not load: the reports record each as
	// a failed scenario.
	Invalid []InvalidFile
	// Selection, when set, is what Select keeps of Scenarios.
	Selection *Selection
	Reports   Reports
	// Options are each scenario run's; the reports hear the events beside
	// Options.Observer (when set).
	Options Options
	// Count is the number of rounds (at least 1): two runs of a scenario
	// never overlap, so they never share its log folder or ports.
	Count    int
	FailFast bool
	// Deadline, when set, ends the whole invocation: the scenario running
	// then fails with DeadlineCause, and no further one starts.
	Deadline      time.Time
	DeadlineCause error
	// Parallel, when set, runs one round's scenarios at once (the CLI's
	// --parallel runs each in a child process of its own) with opts; it
	// must start none once stop says so, and call ended as each ends.
	Parallel func(ctx context.Context, scenarios []*Scenario, opts Options, stop func() bool, ended func(Result)) []Result
}

// SuiteResult is how a Suite ended.
type SuiteResult struct {
	Results []Result
	// NotRun counts the scenario runs that never started (the deadline,
	// --fail-fast, an interrupt).
	NotRun int
	// Cut is why runs were left unstarted by the deadline (nil otherwise).
	Cut error
	// ReportErr is why a report file could not be written.
	ReportErr error
}

// Select keeps the scenarios the Selection selects, each cut after its
// last selected step, saying on w where each stops. Selecting nothing is
// an error: a run that passes without running anything would pass for a
// test.
func (s *Suite) Select(w io.Writer) error {
	if s.Selection == nil {
		return nil
	}
	selected, err := s.Selection.Apply(s.Scenarios, w)
	if err == nil {
		s.Scenarios = selected
	}
	return err
}

// CheckLogFolders says on w, for each scenario, when its log folder is
// in the way: nothing may be cleared that the runner did not create.
// false means nothing may start.
func (s *Suite) CheckLogFolders(w io.Writer) bool {
	allClear := true
	for _, sc := range s.Scenarios {
		if err := CheckLogFolder(LogFolder(s.Options.LogsDir, sc.Name)); err != nil {
			fmt.Fprintf(w, "%s: %v\n", sc.File, err)
			allClear = false
		}
	}
	return allClear
}

// Run runs the suite until its rounds are done, or ctx ends, and writes
// its reports. An error means a report could not be made, and nothing
// started.
func (s Suite) Run(ctx context.Context) (SuiteResult, error) {
	grouped := s.Parallel != nil && len(s.Scenarios) > 1
	reports, finish, err := s.Reports.open(grouped, s.Invalid)
	if err != nil {
		return SuiteResult{}, err
	}
	if s.Options.Observer != nil {
		reports = Observers{s.Options.Observer, reports}
	}
	s.Options.Observer = reports
	out := s.runRounds(ctx)
	out.ReportErr = finish()
	return out, nil
}

func (s Suite) runRounds(ctx context.Context) SuiteResult {
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
			rs = s.Parallel(runCtx, s.Scenarios, s.Options, stop, ended)
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
