package runner

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/scenariofile"
)

func suiteOf(t *testing.T, sources ...string) Suite {
	t.Helper()
	dir := t.TempDir()
	var scenarios []*Scenario
	for i, src := range sources {
		sc, err := scenariofile.Parse(filepath.Join(dir, "s"+string(rune('a'+i))+".yaml"), []byte(src), testRegistry())
		if err != nil {
			t.Fatal(err)
		}
		scenarios = append(scenarios, sc)
	}
	var out bytes.Buffer
	return Suite{Scenarios: scenarios, Count: 1,
		Options: Options{Observer: NewReporter(&out, false, false), LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond}}
}

func run(t *testing.T, s Suite) SuiteResult {
	t.Helper()
	got, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

const (
	passing = "name: passes\nsteps:\n  - exec: {command: 'true'}\n"
	failing = "name: fails\nsteps:\n  - exec: {command: 'false'}\n"
)

// --count runs every scenario once a round; --fail-fast starts nothing
// once one failed, and says how many runs did not start.
func TestSuiteRunsItsRoundsAndStopsStartingAfterAFailureWhenAsked(t *testing.T) {
	s := suiteOf(t, passing)
	s.Count = 3
	if got := run(t, s); len(got.Results) != 3 || got.NotRun != 0 {
		t.Errorf("3 rounds of one scenario: %d results, %d not run", len(got.Results), got.NotRun)
	}
	s = suiteOf(t, failing, passing)
	s.Count, s.FailFast = 2, true
	got := run(t, s)
	if len(got.Results) != 1 || got.Results[0].Outcome != Failed || got.NotRun != 3 || got.Cut != nil {
		t.Errorf("fail-fast: %d results, %d not run, cut %v; want the failure alone and 3 not run", len(got.Results), got.NotRun, got.Cut)
	}
}

// A deadline that has passed starts nothing, and the result says why.
func TestSuitePastItsDeadlineStartsNothingAndSaysWhy(t *testing.T) {
	s := suiteOf(t, passing, passing)
	cause := errors.New("the run's --timeout passed")
	s.Deadline, s.DeadlineCause = time.Now().Add(-time.Second), cause
	got := run(t, s)
	if len(got.Results) != 0 || got.NotRun != 2 || !errors.Is(got.Cut, cause) {
		t.Errorf("past the deadline: %d results, %d not run, cut %v", len(got.Results), got.NotRun, got.Cut)
	}
}
