package runner

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// A Selection is run's --run REGEX[/STEP] and --skip REGEX: which
// scenarios run, and where each stops. The scenario part is matched
// against scenario names; the step part against step names as test2json
// reports them (StepName: NN_TYPE_LABEL). Steps depend on the ones before
// them (an expect needs its sidecars), so a step pattern does not pick
// steps out: it ends the scenario after the last step it matches. --skip,
// as go test -skip, leaves out the scenarios whose name it matches.
type Selection struct {
	pattern    string
	scenario   *regexp.Regexp
	step       *regexp.Regexp // nil: every step
	stepSource string
	skip       *regexp.Regexp // nil: none
	skipSource string
}

// NewSelection is --run run --skip skip; either may be "".
func NewSelection(run, skip string) (*Selection, error) {
	s, err := newSelector(run)
	if err != nil || skip == "" {
		return s, err
	}
	if strings.Contains(skip, "/") {
		return nil, fmt.Errorf("--skip %q: --skip leaves out whole scenarios; a step cannot be left out alone, since the steps after it depend on it (--run SCENARIO/STEP stops a scenario after a step)", skip)
	}
	if s.skip, err = regexp.Compile(skip); err != nil {
		return nil, fmt.Errorf("--skip %q: %v", skip, err)
	}
	s.skipSource = skip
	return s, nil
}

func newSelector(pattern string) (*Selection, error) {
	scen, step, hasStep := strings.Cut(pattern, "/")
	s := &Selection{pattern: pattern}
	var err error
	if s.scenario, err = regexp.Compile(scen); err != nil {
		return nil, fmt.Errorf("--run %q: the scenario pattern: %v", pattern, err)
	}
	if hasStep {
		if s.step, err = regexp.Compile(step); err != nil {
			return nil, fmt.Errorf("--run %q: the step pattern: %v", pattern, err)
		}
		s.stepSource = step
	}
	return s, nil
}

// Picks says whether scenario sc runs: its name is selected and, with a
// step pattern, a step of it is. A nil Selection picks every one.
func (s *Selection) Picks(sc *Scenario) bool {
	if s == nil {
		return true
	}
	if !s.scenario.MatchString(sc.Name) || s.skip != nil && s.skip.MatchString(sc.Name) {
		return false
	}
	return s.step == nil || s.lastStep(sc) >= 0
}

// lastStep is the index of sc's last item the step pattern selects, -1
// for none.
func (s *Selection) lastStep(sc *Scenario) int {
	last := -1
	for i, it := range sc.Items {
		if s.step.MatchString(StepName(it.Index+1, it.Type, it.Label)) {
			last = i
		}
	}
	return last
}

// Apply keeps the scenarios selected, each cut after its last selected
// step, and says on w where each stops. Selecting nothing is an error: a
// run that passes without running anything would pass for a test.
func (s *Selection) Apply(scenarios []*Scenario, w io.Writer) ([]*Scenario, error) {
	var out []*Scenario
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.Name)
		if !s.Picks(sc) {
			continue
		}
		if s.step == nil {
			out = append(out, sc)
			continue
		}
		last := s.lastStep(sc)
		cut := *sc
		cut.Items = sc.Items[:last+1]
		if last+1 < len(sc.Items) {
			it := sc.Items[last]
			fmt.Fprintf(w, "scenario run: --run %s: %s stops after step %d of %d (%s)\n", s.pattern, EscapeLine(sc.Name), last+1, len(sc.Items),
				EscapeLine(StepName(it.Index+1, it.Type, it.Label)))
		}
		out = append(out, &cut)
	}
	if len(out) == 0 && s.skip != nil {
		return nil, fmt.Errorf("--run %q --skip %q leave no scenario to run (scenarios: %s)", s.pattern, s.skipSource, strings.Join(names, ", "))
	}
	if len(out) == 0 {
		what := "no scenario"
		if s.step != nil {
			what = "no step of a scenario"
		}
		return nil, fmt.Errorf("--run %q matches %s (scenarios: %s); a step's name is NN_TYPE_LABEL, as `--format test2json` shows it", s.pattern, what, strings.Join(names, ", "))
	}
	return out, nil
}
