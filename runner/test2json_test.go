package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The test2json stream is what `go test -json` writes: every line one
// event with only test2json's fields and actions, a package start first
// and a package end last, each test run before it ends, steps as subtests
// of their scenario.
func TestTest2JSONStream(t *testing.T) {
	var out bytes.Buffer
	t2j := NewTest2JSON(&out)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	step := func(i int, typ, label, outcome, err string) *StepEvent {
		return &StepEvent{Index: i, Type: typ, Label: label, Pos: "scenarios/x.yaml:9:5", Outcome: outcome, DurationMS: 1500, Error: err}
	}
	for _, e := range []Event{
		{Event: "scenario-start", Scenario: "x", File: "scenarios/x.yaml", Description: "two steps", Steps: 3},
		{Event: "step-start", Scenario: "x", File: "scenarios/x.yaml", Step: step(1, "start-agent", "consul agent -dev", "", "")},
		{Event: "step-end", Scenario: "x", File: "scenarios/x.yaml", Step: step(1, "start-agent", "consul agent -dev", OutcomePassed, "")},
		{Event: "step-start", Scenario: "x", File: "scenarios/x.yaml", Step: step(2, "expect", "hello / back", "", "")},
		{Event: "step-end", Scenario: "x", File: "scenarios/x.yaml", Step: &StepEvent{Index: 2, Type: "expect", Label: "hello / back", Pos: "scenarios/x.yaml:9:5",
			Outcome: OutcomeFailed, DurationMS: 1000, Error: "expected reply\n--- PASS everything", Logs: []LogTail{{Path: "logs/x/agent.log", Lines: []string{"a line"}}}}},
		{Event: "step-end", Scenario: "x", File: "scenarios/x.yaml", Step: step(3, "expect", "never reached", OutcomeSkipped, "")},
		{Event: "cleanup", Scenario: "x", File: "scenarios/x.yaml", Stopped: []string{"agent"}, DurationMS: 12},
		{Event: "scenario-end", Scenario: "x", File: "scenarios/x.yaml", Outcome: OutcomeFailed, FailedStep: 2, Error: "2 (expect hello)", DurationMS: 2500, LogsDir: "logs/x"},
		{Event: "scenario-start", Scenario: "y", File: "other/y.yaml", Steps: 0},
		{Event: "scenario-end", Scenario: "y", File: "other/y.yaml", Outcome: OutcomePassed, DurationMS: 10},
	} {
		e.Time = at
		t2j.Observe(e)
	}
	t2j.Close()

	var events []TestEvent
	actions := map[string]bool{"start": true, "run": true, "pause": true, "cont": true, "pass": true, "bench": true, "fail": true, "output": true, "skip": true}
	lines := bufio.NewScanner(&out)
	for lines.Scan() {
		var e TestEvent
		dec := json.NewDecoder(strings.NewReader(lines.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%v: %s", err, lines.Text())
		}
		if !actions[e.Action] || e.Time == nil || e.Package == "" {
			t.Errorf("not a test2json event: %s", lines.Text())
		}
		events = append(events, e)
	}
	var verdicts []string
	var output strings.Builder
	for _, e := range events {
		switch e.Action {
		case "output":
			output.WriteString(*e.Output)
		case "run", "output ", "start":
		default:
			verdicts = append(verdicts, e.Action+" "+e.Package+" "+e.Test)
		}
	}
	want := []string{
		"pass scenarios x/01_start-agent_consul_agent_-dev",
		"fail scenarios x/02_expect_hello___back",
		"skip scenarios x/03_expect_never_reached",
		"fail scenarios x",
		"pass other y",
		"fail scenarios ",
		"pass other ",
	}
	if strings.Join(verdicts, "\n") != strings.Join(want, "\n") {
		t.Errorf("verdicts:\n%s\nwant:\n%s", strings.Join(verdicts, "\n"), strings.Join(want, "\n"))
	}
	if events[0].Action != "start" || events[0].Package != "scenarios" {
		t.Errorf("first event %+v", events[0])
	}
	for _, want := range []string{
		"=== RUN   x\n", "    two steps\n", "=== RUN   x/02_expect_hello___back\n",
		"    at scenarios/x.yaml:9:5\n", "    expected reply\n    --- PASS everything\n", "    logs/x/agent.log (last 1 lines):\n      | a line\n",
		"    --- FAIL: x/02_expect_hello___back (1.00s)\n", "    --- SKIP: x/03_expect_never_reached (1.50s)\n",
		"    cleanup: stopped agent (12ms)\n", "--- FAIL: x (2.50s)\n", "FAIL\tscenarios\t", "ok  \tother\t",
	} {
		if !strings.Contains(output.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, output.String())
		}
	}
	// An error's lines stay indented under their step: none can pass for
	// go test's own "--- PASS" line at the start of a line.
	if strings.Contains("\n"+output.String(), "\n--- PASS everything") {
		t.Error("an error line passes for a verdict")
	}
}

// A scenario's warnings are output of its test, under it, where tools
// that read go test -json show them without counting them as errors.
func TestTest2JSONPutsWarningsInTheTestsOutput(t *testing.T) {
	var out bytes.Buffer
	t2j := NewTest2JSON(&out)
	warning := "scenarios/x.yaml:4:7: warning: something suspicious"
	t2j.Observe(Event{Event: "scenario-start", Scenario: "x", File: "scenarios/x.yaml", Warnings: []string{warning}})
	t2j.Observe(Event{Event: "scenario-end", Scenario: "x", File: "scenarios/x.yaml", Outcome: OutcomePassed})
	t2j.Close()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e TestEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Action == "output" && *e.Output == "    "+warning+"\n" {
			found = true
			if e.Test != "x" || e.Package != "scenarios" {
				t.Errorf("the warning is output of %q in %q, not of the scenario's test", e.Test, e.Package)
			}
		}
	}
	if !found {
		t.Errorf("no output event with the warning:\n%s", out.String())
	}
}
