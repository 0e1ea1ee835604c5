package steps

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A watched claim's Start returns once the claim has held, with its settle
// window still open; a contrary outcome during the window, after Start
// returned, fails the settle.
func TestAWatchedClaimReturnsOnceItHoldsAndItsWindowStillFailsOnAContraryOutcome(t *testing.T) {
	// The first five connections are echoed, the rest closed with no reply.
	addr := replyPattern(t, func(i int) string {
		if i < 5 {
			return "x"
		}
		return ""
	})
	e := &expect{probe: &Target{Addr: addr}, send: "x", reply: []byte("x"), times: 1, within: 3 * time.Second, quiet: time.Millisecond, eventual: true}
	w, ok := e.watched().(*watchedClaim)
	if !ok {
		t.Fatalf("a probe is %T, not a watched claim", e.watched())
	}
	start := time.Now()
	settle, err := w.Start(context.Background(), &fakeEnv{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if took := time.Since(start); took >= SettleFloor {
		t.Errorf("Start took %s: it waited for the settle window", took)
	}
	if err := settle(context.Background()); err == nil || !strings.Contains(err.Error(), "once it has held fails the step") {
		t.Fatalf("settle: %v, want the close during the window to fail it", err)
	}
}

// A claim that fails before it ever holds fails its Start.
func TestAWatchedClaimThatNeverHoldsFailsItsStart(t *testing.T) {
	addr := replyPattern(t, func(int) string { return "" })
	e := &expect{probe: &Target{Addr: addr}, send: "x", reply: []byte("x"), times: 1, within: 200 * time.Millisecond, quiet: time.Millisecond, eventual: true}
	if _, err := e.watched().(*watchedClaim).Start(context.Background(), &fakeEnv{}); err == nil {
		t.Fatal("a claim that never held started")
	}
}

// Only steps that can neither change nor cut what a watch sees pass it.
func TestAWatchIsPassedOnlyByLooks(t *testing.T) {
	probe := &watchedClaim{&expect{probe: &Target{Service: "web", Upstream: "socat"}}}
	decision := &watchedClaim{&expect{}} // no probe: an intention decision
	captured := &watchedClaim{&expect{probe: &Target{Service: "web", Upstream: "socat"}, wire: WireEncrypted}}
	for _, c := range []struct {
		name   string
		watch  *watchedClaim
		next   Step
		passes bool
		why    string
	}{
		{"a decision during a probe's watch", probe, &watchedClaim{&expect{}}, true, "it asks the agent only"},
		{"a look at a held connection", probe, &heldReply{&expect{conn: "c"}}, true, "it reads a connection already open"},
		{"a send on an open connection", probe, &send{conn: "c"}, true, "it opens nothing"},
		{"a send that opens a connection", probe, &send{conn: "c", open: true}, false, "its connection could meet the watch's at a backend"},
		{"a send that opens a connection during a decision's watch", decision, &send{conn: "c", open: true}, true, "a decision's watch asks the agent only"},
		{"another probe", probe, &watchedClaim{&expect{probe: &Target{Addr: "127.0.0.1:1"}}}, false, "its connections could meet the watch's"},
		{"a probe during a decision's watch", decision, &watchedClaim{&expect{probe: &Target{Addr: "127.0.0.1:1"}}}, true, "it changes no decision"},
		{"a cert check during a probe's watch", probe, &expectCert{}, false, "it dials the sidecar, which dials its backend"},
		{"a loopback look", probe, &expectLoopbackOnly{}, true, "it reads sockets"},
		{"an intention change", probe, &setIntention{}, false, "it may change the outcome"},
		{"an intention deleted", decision, &deleteIntention{}, false, "it may change the outcome"},
		{"a stop", probe, &stop{}, false, "it may cut the path"},
		{"a command", decision, &run{}, false, "it may change anything"},
		{"a look after a claim that captures the wire", captured, &expectLoopbackOnly{}, false, "the capture sees every flow"},
		{"a capture during a watch", probe, &watchedClaim{&expect{wire: WirePlaintext}}, false, "the capture sees every flow"},
	} {
		if got := c.watch.Passes(c.next); got != c.passes {
			t.Errorf("%s: Passes = %t, want %t: %s", c.name, got, c.passes, c.why)
		}
	}
}
