package runner

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// --skip leaves out the scenarios whose name it matches, after --run
// selected; leaving none, a step pattern or a bad one is an error.
func TestSkipLeavesOutScenarios(t *testing.T) {
	var scenarios []*Scenario
	for _, f := range []string{"../scenarios/basic.yaml", "../scenarios/intentions.yaml", "../scenarios/intention-precedence.yaml"} {
		sc, err := scenariofile.Load(f, steps.Default())
		if err != nil {
			t.Fatal(err)
		}
		scenarios = append(scenarios, sc)
	}
	pick := func(run, skip string) (string, error) {
		s, err := NewSelection(run, skip)
		if err != nil {
			return "", err
		}
		out, err := s.Apply(scenarios, io.Discard)
		var names []string
		for _, sc := range out {
			names = append(names, sc.Name+":"+strconv.Itoa(len(sc.Items)))
		}
		return strings.Join(names, " "), err
	}
	for _, c := range []struct{ run, skip, want string }{
		{"", "basic", "intentions:18 intention-precedence:" + strconv.Itoa(len(scenarios[2].Items))},
		{"", "intention", "basic:9"},
		{"intention", "^intentions$", "intention-precedence:" + strconv.Itoa(len(scenarios[2].Items))},
		{"intentions/denied_by", "basic", "intentions:11"},
	} {
		if got, err := pick(c.run, c.skip); err != nil || got != c.want {
			t.Errorf("--run %q --skip %q: %s (%v), want %s", c.run, c.skip, got, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"", "."}, {"basic", "basic"}, {"", "basic/expect"}, {"", "("}} {
		if got, err := pick(bad[0], bad[1]); err == nil {
			t.Errorf("--run %q --skip %q selected %s", bad[0], bad[1], got)
		}
	}
}

// --run SCENARIO/STEP keeps the scenarios whose name matches and cuts
// each after its last step whose name matches; matching nothing is an
// error.
func TestRunSelects(t *testing.T) {
	var scenarios []*Scenario
	for _, f := range []string{"../scenarios/basic.yaml", "../scenarios/intentions.yaml"} {
		sc, err := scenariofile.Load(f, steps.Default())
		if err != nil {
			t.Fatal(err)
		}
		scenarios = append(scenarios, sc)
	}
	pick := func(pattern string) ([]*Scenario, string, error) {
		s, err := NewSelection(pattern, "")
		if err != nil {
			return nil, "", err
		}
		var note bytes.Buffer
		out, err := s.Apply(scenarios, &note)
		return out, note.String(), err
	}
	summary := func(scs []*Scenario) string {
		var parts []string
		for _, sc := range scs {
			parts = append(parts, sc.Name+":"+strconv.Itoa(len(sc.Items)))
		}
		return strings.Join(parts, " ")
	}
	for _, c := range []struct{ pattern, want string }{
		{"basic", "basic:9"},
		{"^intentions$", "intentions:18"},
		{"", "basic:9 intentions:18"},
		{"i", "basic:9 intentions:18"},
		{"intentions/denied_by", "intentions:11"},
		{"intentions/^05_", "intentions:5"},
		{"/sidecar_web", "basic:6 intentions:6"},
		{"basic/expect", "basic:9"},
	} {
		got, _, err := pick(c.pattern)
		if err != nil || summary(got) != c.want {
			t.Errorf("--run %q: %s (%v), want %s", c.pattern, summary(got), err, c.want)
		}
	}
	if _, note, _ := pick("intentions/denied_by"); !strings.Contains(note, "intentions stops after step 11 of 18 (11_expect_new_connections_are_denied_by_the_mesh)") {
		t.Errorf("the cut is not reported: %q", note)
	}
	if scenarios[1].Name != "intentions" || len(scenarios[1].Items) != 18 {
		t.Error("selecting changed the loaded scenario")
	}
	for _, bad := range []string{"nosuch", "basic/nosuch", "(", "x/["} {
		if got, _, err := pick(bad); err == nil {
			t.Errorf("--run %q selected %s", bad, summary(got))
		}
	}
}
