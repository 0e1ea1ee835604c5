package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// changeStep is a test step that changes something, as a fault would.
type changeStep struct {
	funcStep
	change steps.Change
}

func (c changeStep) Change() steps.Change { return c.change }

func init() {
	for _, t := range []struct {
		name string
		err  error
	}{{"test-change", nil}, {"test-change-fails", errors.New("it did not change")}} {
		testTypes = append(testTypes, testType(t.name, time.Second, func() steps.Step {
			return changeStep{funcStep{label: t.name, run: func(context.Context, steps.Env) error { return t.err }},
				steps.Change{Kind: steps.ChangeFault, What: "loss 30%", Span: "loss"}}
		}))
	}
	testTypes = append(testTypes, funcType("test-probe", func(ctx context.Context, env steps.Env) error {
		now := time.Now()
		env.Attempted(steps.Attempt{Start: now, Took: time.Millisecond, Outcome: steps.AttemptClose})
		env.Attempted(steps.Attempt{Start: now.Add(time.Millisecond), Took: time.Millisecond, Outcome: steps.AttemptReply, Held: true})
		return nil
	}))
}

// events collects what a run reports.
type events = collector

func runEvents(t *testing.T, src string) (Result, []Event) {
	t.Helper()
	dir := t.TempDir()
	sc, err := scenariofile.Parse(filepath.Join(dir, "s.yaml"), []byte(src), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var got events
	res := Run(context.Background(), sc, Options{Observer: &got, LogsDir: filepath.Join(dir, "logs"), Grace: 100 * time.Millisecond,
		ConsulVersion: func() string { return "Consul v0.0.0-test" }, Command: "scenario run s.yaml"})
	return res, got.events()
}

func kinds(evs []Event) string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Event)
	}
	return strings.Join(k, " ")
}

// A process's start and end are events, with its node, role, pid and the
// step that started it; every end comes before the scenario's.
func TestProcessLifetimesAreEventsBeforeTheScenarioEnds(t *testing.T) {
	_, evs := runEvents(t, "name: p\nsteps:\n  - test-ok: {}\n  - test-start: {}\n  - test-ok: {}\n")
	want := "scenario-start step-start step-end step-start process-start step-end step-start step-end process-end cleanup scenario-end"
	if got := kinds(evs); got != want {
		t.Fatalf("events:\n%s\nwant\n%s", got, want)
	}
	start, end := evs[4].Process, evs[8].Process
	if start == nil || start.Name != "sleeper" || start.Role != "service" || start.PID <= 0 || start.Step != 2 || start.Log == "" {
		t.Errorf("process-start: %+v", start)
	}
	if end == nil || end.PID != start.PID || end.Ended != EndedCleanup || end.Exit == "" {
		t.Errorf("process-end: %+v", end)
	}
	first, last := evs[0], evs[len(evs)-1]
	if first.Command != "scenario run s.yaml" || !strings.HasPrefix(first.Graph, "digraph") || last.ConsulVersion != "Consul v0.0.0-test" {
		t.Errorf("the scenario's start and end lack what the report's summary needs: %+v\n%+v", first, last)
	}
}

// A change is recorded when its step passes, and not when it fails: the
// timeline must not show a fault that was never made.
func TestChangesAreRecordedForPassingStepsOnly(t *testing.T) {
	_, evs := runEvents(t, "name: c\nsteps:\n  - test-change: {}\n  - test-change-fails: {}\n")
	var changes []*ChangeEvent
	for _, e := range evs {
		if e.Event == "change" {
			changes = append(changes, e.Change)
		}
	}
	if len(changes) != 1 || changes[0].Step != 1 || changes[0].Kind != "fault" || changes[0].Span != "loss" || changes[0].What != "loss 30%" {
		t.Fatalf("changes: %+v (events: %s)", changes, kinds(evs))
	}
}

// A probe's attempts go with its step's end, as runs of one outcome.
func TestProbeAttemptsGoWithTheStepEnd(t *testing.T) {
	_, evs := runEvents(t, "name: a\nsteps:\n  - test-probe: {}\n")
	for _, e := range evs {
		if e.Event != "step-end" {
			continue
		}
		p := e.Step.Probe
		if p == nil || p.Attempts != 2 || p.Held != 1 || p.Outcomes["close"] != 1 || p.Outcomes["reply"] != 1 || len(p.Runs) != 2 || p.Runs[1].AtMS < p.Runs[0].AtMS {
			t.Fatalf("probe: %+v", p)
		}
		return
	}
	t.Fatal("no step-end")
}

// However many attempts a probe makes, its event lists a bounded number
// of runs and counts the rest.
func TestProbeEventsAreBounded(t *testing.T) {
	start := time.Now()
	var attempts []steps.Attempt
	for i := 0; i < 5000; i++ {
		o := steps.AttemptReply
		if i%2 == 1 {
			o = steps.AttemptClose
		}
		attempts = append(attempts, steps.Attempt{Start: start.Add(time.Duration(i) * time.Millisecond), Took: time.Millisecond, Outcome: o, Held: i%2 == 0})
	}
	p := probeEvent(start, attempts)
	if p.Attempts != 5000 || len(p.Runs) != maxAttemptRuns || p.Omitted != 5000-maxAttemptRuns || p.Held != 2500 {
		t.Fatalf("attempts %d, runs %d, omitted %d, held %d", p.Attempts, len(p.Runs), p.Omitted, p.Held)
	}
	same := make([]steps.Attempt, 1000)
	for i := range same {
		same[i] = steps.Attempt{Start: start.Add(time.Duration(i) * time.Millisecond), Took: time.Millisecond, Outcome: steps.AttemptReply, Held: true}
	}
	if p := probeEvent(start, same); len(p.Runs) != 1 || p.Runs[0].Count != 1000 || p.Runs[0].SpanMS != 1000 {
		t.Fatalf("1000 alike: %+v", p.Runs)
	}
}

// Every text an event can carry is redacted, however deep, including
// fields added later: fill each string of an Event with a secret, and
// none may survive.
func TestEveryTextOfAnEventIsRedacted(t *testing.T) {
	const secret = "5b7d3f0a-1c2e-4e6f-9a8b-112233445566"
	r := newRedactor()
	r.learnToken(secret)
	var e Event
	fill(reflect.ValueOf(&e).Elem(), "token="+secret)
	before := dump(reflect.ValueOf(e))
	if !strings.Contains(before, secret) {
		t.Fatal("the filler put no secret in the event")
	}
	got := r.event(e)
	if s := dump(reflect.ValueOf(got)); strings.Contains(s, secret) {
		t.Errorf("a secret survived redaction:\n%s", s)
	}
	if after := dump(reflect.ValueOf(e)); after != before {
		t.Error("redaction changed the event it was given")
	}
}

// fill sets every string reachable from v to s, making pointers, slices
// and maps of one element on the way.
func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				fill(f, s)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), s)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, s)
		fill(val, s)
		m.SetMapIndex(k, val)
		v.Set(m)
	}
}

func dump(v reflect.Value) string {
	var b strings.Builder
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			b.WriteString(v.String() + "\n")
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Key())
				walk(it.Value())
			}
		}
	}
	walk(v)
	return b.String()
}

type fakeCapture []byte

func (f fakeCapture) WritePcap(w io.Writer) error { _, err := w.Write(f); return err }

// A capture in the bundle keeps its layout, with the run's secrets
// masked in place.
func TestBundleCaptureMasksSecretsInPlace(t *testing.T) {
	const secret = "0c1d7c6e-5b5a-4b7e-9d55-8f4e3f6a2b10"
	s := &session{redactor: newRedactor()}
	s.redactor.learnToken(secret)
	raw := []byte("\xd4\xc3\xb2\xa1 header X-Consul-Token: " + secret + " and again " + secret + "\x00")
	path := filepath.Join(t.TempDir(), "wire.pcap")
	if err := s.writePcap(path, fakeCapture(raw)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if len(got) != len(raw) || bytes.Contains(got, []byte(secret)) || !bytes.HasPrefix(got, []byte("\xd4\xc3\xb2\xa1")) {
		t.Fatalf("masked capture: %q", got)
	}
}
