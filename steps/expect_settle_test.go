package steps

import (
	"context"
	"strings"
	"testing"
	"time"
)

// flapping serves a path that flips with time, as a mesh does whose
// intention a process flips: for carry, from the listener's start, each
// connection is echoed; then for refuse, each is closed with no reply;
// and so on.
func flapping(t *testing.T, carry, refuse time.Duration) string {
	start := time.Now()
	return replyPattern(t, func(int) string {
		if time.Since(start)%(carry+refuse) < carry {
			return "x"
		}
		return ""
	})
}

// Finding 8 of issue 18: a flapping path passed whichever claim it was
// asked about, the attempts of the other phase retried silently. Once the
// claimed outcome has held, a contrary one fails the step, naming it.
func TestAFlappingPathFailsEveryClaimAboutIt(t *testing.T) {
	for _, c := range []struct {
		name string
		e    expect
		want string
	}{
		// Started in the carrying phase: replies come first (propagation,
		// allowed), then a close holds, then replies again.
		{"closed", expect{closed: true}, "did otherwise: got reply \"x\""},
		// Started carrying: a reply holds at once, then a close comes.
		{"reply", expect{reply: []byte("x")}, "did otherwise: connection closed by the peer (EOF) with no reply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			e.probe, e.send, e.times, e.within, e.quiet, e.eventual = &Target{Addr: flapping(t, 300*time.Millisecond, 100*time.Millisecond)}, "x", 1, 3*time.Second, time.Millisecond, true
			err := e.Run(context.Background(), &fakeEnv{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "once it has held fails the step") {
				t.Fatalf("a flapping path: %v", err)
			}
		})
	}
}

// Before the claimed outcome first holds, other outcomes are the change
// propagating: allowed within `within`, and counted in the note, as is
// how long the outcome was then watched.
func TestContraryOutcomesBeforeTheFirstHoldAreCountedAsPropagation(t *testing.T) {
	start := time.Now()
	addr := replyPattern(t, func(int) string {
		if time.Since(start) < 200*time.Millisecond {
			return "x"
		}
		return ""
	})
	env := &notingEnv{}
	e := expect{probe: &Target{Addr: addr}, send: "x", closed: true, times: 1, within: 3 * time.Second, quiet: time.Millisecond, eventual: true}
	if err := e.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	note := strings.Join(env.notes, "\n")
	if strings.Contains(note, ", 0 connections having done otherwise") {
		t.Errorf("the note does not count the replies before the close:\n%s", note)
	}
	for _, want := range []string{"settled: it first held after ", "connections having done otherwise before (the change propagating, allowed within 3s); then it held on all "} {
		if !strings.Contains(note, want) {
			t.Errorf("the note lacks %q:\n%s", want, note)
		}
	}
	if took := time.Since(start); took < 200*time.Millisecond+SettleFloor {
		t.Errorf("the step took %s: it was not watched for %s after it held", took, SettleFloor)
	}
}

// The settle window: as long as the outcome took to come when other
// outcomes came first, at least SettleFloor for an eventual claim, never
// more than within.
func TestSettleWindow(t *testing.T) {
	for _, c := range []struct {
		eventual       bool
		untilFirst     time.Duration
		contraryBefore int
		want           time.Duration
	}{
		{false, 0, 0, 0},
		{false, 300 * time.Millisecond, 0, 0},
		{false, 300 * time.Millisecond, 2, 300 * time.Millisecond},
		{true, 0, 0, SettleFloor},
		{true, 2 * time.Second, 5, 2 * time.Second},
		{true, 9 * time.Second, 5, 5 * time.Second},
	} {
		if got := settleWindow(c.eventual, 5*time.Second, c.untilFirst, c.contraryBefore); got != c.want {
			t.Errorf("%+v: %s, want %s", c, got, c.want)
		}
	}
}
