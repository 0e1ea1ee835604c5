package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Test2JSON writes the events of a run as `go test -json` does (the
// cmd/test2json format), so that tools that read Go test output
// (gotestsum, tparse, go-junit-report -parser gojson, CI annotators) read a
// run unchanged: each scenario file's folder is a package, each scenario a
// test, each step a subtest named by StepName. Output events carry the
// report's lines, so a failed step's error and log tails show under it.
type Test2JSON struct {
	mu       sync.Mutex
	enc      *json.Encoder
	packages []*t2jPackage // in the order they started
	byName   map[string]*t2jPackage
	started  map[string]bool // steps seen starting, by test name
}

type t2jPackage struct {
	name   string
	start  time.Time
	end    time.Time
	failed bool
}

// TestEvent is one line of `go test -json`, as cmd/test2json documents it.
type TestEvent struct {
	Time    *time.Time `json:",omitempty"`
	Action  string     // start, run, pause, cont, pass, bench, fail, output, skip
	Package string     `json:",omitempty"`
	Test    string     `json:",omitempty"`
	Elapsed *float64   `json:",omitempty"` // seconds
	Output  *string    `json:",omitempty"`
}

func NewTest2JSON(w io.Writer) *Test2JSON {
	return &Test2JSON{enc: json.NewEncoder(w), byName: map[string]*t2jPackage{}, started: map[string]bool{}}
}

// StepName is a step's name as a subtest, and for run --run: its number
// (two digits, so that names sort), type and label, with spaces and
// slashes made underscores as Go does for test names (a slash would nest).
func StepName(index int, typ, label string) string {
	return fmt.Sprintf("%02d_%s_%s", index, testName(typ), testName(label))
}

func testName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == '\t' {
			return '_'
		}
		return r
	}, EscapeLine(s))
}

// packageOf names a scenario's package: its file's folder, as a Go
// package is a folder ("scenarios", "testdata/e2e").
func packageOf(file string) string {
	if file == "" {
		return "scenario"
	}
	return filepath.ToSlash(filepath.Dir(file))
}

func (t *Test2JSON) emit(at time.Time, action, pkg, test string, elapsed *float64, output *string) {
	at = at.UTC()
	_ = t.enc.Encode(TestEvent{Time: &at, Action: action, Package: pkg, Test: test, Elapsed: elapsed, Output: output})
}

func (t *Test2JSON) output(at time.Time, pkg, test, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	t.emit(at, "output", pkg, test, nil, &s)
}

func elapsedSeconds(ms float64) *float64 {
	s := ms / 1000
	return &s
}

// verdict turns an outcome into a test2json action and go test's word.
func verdict(outcome string) (action, word string) {
	switch outcome {
	case OutcomePassed:
		return "pass", "PASS"
	case OutcomeSkipped:
		return "skip", "SKIP"
	}
	return "fail", "FAIL"
}

func (t *Test2JSON) Observe(e Event) {
	e = escapeEvent(e)
	t.mu.Lock()
	defer t.mu.Unlock()
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	pkgName := packageOf(e.File)
	pkg := t.byName[pkgName]
	if pkg == nil {
		pkg = &t2jPackage{name: pkgName, start: at}
		t.byName[pkgName] = pkg
		t.packages = append(t.packages, pkg)
		t.emit(at, "start", pkgName, "", nil, nil)
	}
	pkg.end = at
	test := testName(e.Scenario)
	switch e.Event {
	case "scenario-start":
		t.emit(at, "run", pkgName, test, nil, nil)
		t.output(at, pkgName, test, "=== RUN   %s\n", test)
		if e.Description != "" {
			for _, l := range strings.Split(strings.TrimSpace(e.Description), "\n") {
				t.output(at, pkgName, test, "    %s\n", l)
			}
		}
		// Warnings are the test's output, not stderr, where tools that
		// read go test -json count each line as an error.
		for _, w := range e.Warnings {
			t.output(at, pkgName, test, "    %s\n", w)
		}
	case "step-start":
		name := test + "/" + StepName(e.Step.Index, e.Step.Type, e.Step.Label)
		t.started[name] = true
		t.emit(at, "run", pkgName, name, nil, nil)
		t.output(at, pkgName, name, "=== RUN   %s\n", name)
	case "step-end":
		s := e.Step
		name := test + "/" + StepName(s.Index, s.Type, s.Label)
		if !t.started[name] { // a step skipped after a failure never started
			t.emit(at, "run", pkgName, name, nil, nil)
			t.output(at, pkgName, name, "=== RUN   %s\n", name)
		}
		delete(t.started, name)
		for _, n := range s.Notes {
			t.output(at, pkgName, name, "    note: %s\n", n)
		}
		if s.Outcome != OutcomePassed && s.Outcome != OutcomeSkipped {
			t.output(at, pkgName, name, "    at %s\n", s.Pos)
		}
		if s.Error != "" {
			for _, l := range strings.Split(s.Error, "\n") {
				t.output(at, pkgName, name, "    %s\n", l)
			}
		}
		for _, tail := range s.Logs {
			t.output(at, pkgName, name, "    %s (last %d lines):\n", tail.Path, len(tail.Lines))
			for _, l := range tail.Lines {
				t.output(at, pkgName, name, "      | %s\n", l)
			}
		}
		for _, l := range s.Table {
			t.output(at, pkgName, name, "    %s\n", l)
		}
		// A table's cells are subtests of their step.
		for _, cell := range s.Cells {
			sub := name + "/" + testName(cell.Name)
			t.emit(at, "run", pkgName, sub, nil, nil)
			t.output(at, pkgName, sub, "=== RUN   %s\n", sub)
			t.output(at, pkgName, sub, "    %s\n", cell.Detail)
			action, word := verdict(cell.Outcome)
			zero := 0.0
			t.output(at, pkgName, sub, "    --- %s: %s (0.00s)\n", word, sub)
			t.emit(at, action, pkgName, sub, &zero, nil)
		}
		action, word := verdict(s.Outcome)
		t.output(at, pkgName, name, "    --- %s: %s (%.2fs)\n", word, name, s.DurationMS/1000)
		t.emit(at, action, pkgName, name, elapsedSeconds(s.DurationMS), nil)
	case "bundle":
		t.output(at, pkgName, test, "    debug bundle: %s\n", e.Bundle)
	case "cleanup":
		for _, line := range cleanupLines(e) {
			t.output(at, pkgName, test, "    %s\n", line)
		}
	case "scenario-end":
		if e.FailedStep == 0 && e.Error != "" {
			for _, l := range strings.Split(e.Error, "\n") {
				t.output(at, pkgName, test, "    %s\n", l)
			}
		}
		if e.LogsDir != "" {
			t.output(at, pkgName, test, "    logs: %s\n", e.LogsDir)
		}
		action, word := verdict(e.Outcome)
		if action == "fail" {
			pkg.failed = true
		}
		t.output(at, pkgName, test, "--- %s: %s (%.2fs)\n", word, test, e.DurationMS/1000)
		t.emit(at, action, pkgName, test, elapsedSeconds(e.DurationMS), nil)
	}
}

// Close ends each package as go test does: PASS or FAIL, then its
// summary line and its own pass or fail event.
func (t *Test2JSON) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for _, p := range t.packages {
		elapsed := now.Sub(p.start).Seconds()
		if p.failed {
			t.output(now, p.name, "", "FAIL\n")
			t.output(now, p.name, "", "FAIL\t%s\t%.3fs\n", p.name, elapsed)
			t.emit(now, "fail", p.name, "", &elapsed, nil)
		} else {
			t.output(now, p.name, "", "PASS\n")
			t.output(now, p.name, "", "ok  \t%s\t%.3fs\n", p.name, elapsed)
			t.emit(now, "pass", p.name, "", &elapsed, nil)
		}
	}
	t.packages = nil
}
