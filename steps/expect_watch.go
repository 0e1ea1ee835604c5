package steps

import (
	"context"
	"sync"
)

// watchedClaim is a probe's or an intention decision's expect: once its
// claim first holds it may be watched settling (expect_settle.go), and
// that watch is left to run while later steps that can neither change nor
// cut what it watches begin (Passes). The watch is the same, its verdict
// lands in order, before the scenario's, and a contrary outcome during it
// fails the scenario at this step.
type watchedClaim struct{ *expect }

// watched is e as a watchedClaim when its claim may be watched settling: a
// probe (others-allowed has no settle window) or an intention decision.
func (e *expect) watched() Step {
	if e.intention != nil || e.probe != nil && !e.othersAllowed {
		return &watchedClaim{e}
	}
	return e
}

// Start runs the claim as Run does, and returns once the claim has first
// held and its settle window has begun (settle then awaits the window's
// verdict), or once it has passed or failed without one.
func (w *watchedClaim) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	watching := make(chan struct{})
	var once sync.Once
	ctx = context.WithValue(ctx, settleWindowKey{}, func() { once.Do(func() { close(watching) }) })
	result := background(func() error { return w.expect.Run(ctx, env) })
	select {
	case err := <-result:
		if err != nil {
			return nil, err
		}
		return func(context.Context) error { return nil }, nil
	case <-watching:
		return func(context.Context) error { return <-result }, nil
	}
}

type settleWindowKey struct{}

// settleWindowBegins tells a watchedClaim's Start that the claim has held
// and its settle window begins, so that the steps after it may begin.
func settleWindowBegins(ctx context.Context) {
	if begins, ok := ctx.Value(settleWindowKey{}).(func()); ok {
		begins()
	}
}

// Passes lets a later step begin during the settle window when it can
// neither change what the watch sees nor cut it short: a look (an expect
// of any form, a send on an open connection) changes no decision of the
// mesh or the agent. During a probe's watch, a later step that opens
// connections into the mesh (a probe, a send to a target, a cert or
// reachability check) waits: its connections could meet the watch's at a
// backend that serves one at a time. An intention decision's watch asks
// the agent only. Whatever may change the outcome waits: an intention or
// config change, a registration, a stop, a start, a fault, a command. A
// claim that captures the wire sees every flow on the cables, so neither
// it nor one after it overlaps.
func (w *watchedClaim) Passes(next Step) bool {
	if w.wire != "" {
		return false
	}
	dials := w.probe != nil
	switch n := next.(type) {
	case *watchedClaim:
		return n.wire == "" && (n.probe == nil || !dials)
	case *expect:
		return n.wire == "" && (n.probe == nil || !dials)
	case *heldReply, *expectLoopbackOnly, *expectHealth:
		return true
	case *send:
		return !n.open || !dials
	case *expectCert, *expectReachability:
		return !dials
	}
	return false
}
