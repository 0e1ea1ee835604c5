package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/scenario-tool/scenario/wait"
)

// A probeRun is one expect's fresh probes: attempts, each dialled afresh
// and its bytes judged (expect_judge.go), until the claim has held times
// in a row, and more often than chance would (expect_streak.go); then the
// settle window (expect_settle.go); then the verdict, with its evidence.
type probeRun struct {
	e     *expect
	env   Env // the probe's node's
	start time.Time
	addr  string     // the upstream's, once resolved (fixed by its registration)
	wire  *wireWatch // the capture, for wire: claims
	// evidence is the mesh's word on the last close a denied: claim asked
	// it about.
	evidence                       *Evidence
	attempts, inARow, wrongReplies int
	// streaks are the replies before the current streak: how often the
	// expected one came by itself, for judging whether a streak could be
	// chance; chance is why a run of times did not count.
	streaks streakOdds
	chance  error
	// last is the last attempt that failed; reached, the last outcome of
	// an attempt that connected. A lost SYN (a dial timing out on
	// loopback) between attempts that reached the mesh must not hide what
	// the mesh did with those.
	last, reached error
	// firstHold is when the claimed outcome was first seen; from then on a
	// contrary outcome fails the step (see expect_settle.go).
	firstHold  time.Time
	counts     settleCounts
	confirming bool // in the settle window
}

func (e *expect) runProbe(ctx context.Context, env Env) error {
	// The probe dials from the node of the service's sidecar, or of the step.
	r := &probeRun{e: e, env: e.probe.From(env), start: time.Now()}
	return r.run(ctx)
}

// run probes until the claim has held and settled, or within passes, and
// gives the verdict: the notes of a pass, or the failure with its
// evidence.
func (r *probeRun) run(ctx context.Context) error {
	e := r.e
	if e.wire != "" {
		var err error
		if r.wire, err = watchWire(ctx, r.env, *e.probe, e.wire); err != nil {
			return err
		}
	}
	err := r.untilHeld(ctx)
	if err == nil && !e.othersAllowed {
		err = r.settle(ctx)
	}
	var wireErr error
	if r.wire != nil {
		// Every attempt's bytes were on the wire: judged together. A
		// failed claim keeps the capture, named in the failure.
		var note string
		note, wireErr = r.wire.judge(ctx, []byte(e.send), e.reply)
		if err == nil && wireErr != nil {
			return r.wire.keep(WithLogs(wireErr, e.probe.Processes()...))
		}
		if err == nil {
			r.env.Notef("%s", note)
		}
	}
	if err == nil {
		r.noteHeld(ctx)
		return nil
	}
	failed := r.failure(ctx, err)
	if r.wire != nil {
		var nc notCrossed
		if wireErr != nil && !errors.As(wireErr, &nc) {
			// What the wire showed, beside the probe's own failure.
			failed = fmt.Errorf("%w\nand %w", failed, wireErr)
		}
		failed = r.wire.keep(failed)
	}
	return failed
}

// untilHeld attempts until the claim has held times in a row, and more
// often than chance would, or until within passes.
func (r *probeRun) untilHeld(ctx context.Context) error {
	maxInterval := 100 * time.Millisecond
	if r.e.times > 1 {
		maxInterval = 10 * time.Millisecond // a run of holds, one after another
	}
	cond := wait.Func("a probe", func(ctx context.Context) error {
		err := r.attempt(ctx, true)
		if err != nil {
			r.remember(ctx, err)
			return r.countFailure(ctx, err)
		}
		return r.countHold()
	})
	return wait.For(ctx, cond, wait.Options{
		Timeout:     r.e.within,
		MaxInterval: maxInterval,
		Alive:       aliveAll(r.env, r.e.probe.Processes()...),
	})
}

// attempt makes one attempt and judges it, with the mesh's evidence of a
// deny when gather says to, and records it for the report's timeline.
func (r *probeRun) attempt(ctx context.Context, gather bool) error {
	e := r.e
	var err error
	if r.addr == "" && !e.probe.Native {
		// The upstream's address is fixed by its registration.
		if r.addr, err = e.probe.Resolve(ctx, r.env); err != nil {
			r.addr, err = "", notConnected{err}
		}
	}
	dialled := err == nil
	var seen string
	began := time.Now()
	if dialled {
		r.attempts++
		seen, err = e.attempt(ctx, r.env, r.addr, r.wire)
		err = r.wire.settle(err)
	}
	if err == nil && e.denied && gather {
		if err = r.gatherDenial(ctx); err == nil {
			seen = AttemptDeny
		}
	}
	if dialled {
		r.env.Attempted(Attempt{Start: began, Took: time.Since(began), Outcome: seen, Held: err == nil})
	}
	return err
}

// gatherDenial asks the mesh why the connection closed with no reply:
// the close alone could be a dead backend, so the mesh must show that its
// authorization refused this path. It is asked once the connection has
// closed, so that "the backend was up" speaks of that moment.
func (r *probeRun) gatherDenial(ctx context.Context) error {
	evidence, err := Gather(ctx, r.env, *r.e.probe)
	r.evidence = evidence
	if err != nil {
		return err
	}
	if contra := evidence.Denied(); contra != nil {
		err = fmt.Errorf("the connection closed with no reply, but that was not the mesh denying it: %w", contra)
		if evidence.AuthzErr == nil && evidence.Authorized {
			err = opposite{err} // the mesh says it allows the path
		}
		return err
	}
	return nil
}

// remember keeps a failed attempt's outcome as the evidence of a
// failure. An attempt cut short by the deadline says nothing about the
// mesh: the previous failure, when there is one, says what broke the
// runs.
func (r *probeRun) remember(ctx context.Context, err error) {
	if ctx.Err() != nil && r.last != nil {
		return
	}
	r.last = err
	var nc notConnected
	if !errors.As(err, &nc) {
		r.reached = err
	}
}

// countFailure counts a failed attempt into the statistics: it ends the
// current run of holds, and a wrong reply (without others-allowed), or a
// contrary outcome once the claim has held, fails the step at once.
func (r *probeRun) countFailure(ctx context.Context, err error) error {
	r.streaks.right += r.inARow
	r.inARow = 0
	var w wrongReply
	if errors.As(err, &w) {
		if !r.e.othersAllowed {
			return wait.Fatal(fmt.Errorf("%w (a wrong reply fails at once; add others-allowed: true when other replies are expected on the way, e.g. from other instances)", err))
		}
		r.wrongReplies++
	}
	var nc notConnected
	if !errors.As(err, &nc) && ctx.Err() == nil {
		r.streaks.other++ // it reached the path, which did something else
	}
	if r.contrary(ctx, err) {
		if !r.firstHold.IsZero() {
			return wait.Fatal(r.counts.contrary(err, time.Since(r.firstHold), "connections"))
		}
		r.counts.contraryBefore++
	}
	return err
}

// countHold counts an attempt that held: nil once the claim has held
// times in a row, and more often than chance would.
func (r *probeRun) countHold() error {
	if r.firstHold.IsZero() {
		r.firstHold = time.Now()
		r.counts.untilFirst = r.firstHold.Sub(r.start)
	} else {
		r.counts.holdsAfter++
	}
	times := r.e.times
	if r.inARow++; r.inARow < times {
		return fmt.Errorf("held %d of %d times in a row so far", r.inARow, times)
	}
	if need := r.streaks.needed(times, r.e.othersAllowed); r.inARow < need {
		r.chance = fmt.Errorf("a run of %d could be chance (%s): it takes %d in a row to show more than chance",
			times, r.streaks.seen(), need)
		return fmt.Errorf("held %d times in a row so far; %w", r.inARow, r.chance)
	}
	return nil
}

// contrary says whether err, an attempt's failure, is the outcome
// opposite to the claimed one (see opposite), not cut short by the
// deadline, and others-allowed does not make it one of the expected
// others.
func (r *probeRun) contrary(ctx context.Context, err error) bool {
	var o opposite
	var w wrongReply
	return !r.e.othersAllowed && ctx.Err() == nil && (errors.As(err, &o) || errors.As(err, &w))
}

// settle is the settle window: the claimed outcome must go on holding on
// every new connection until it has been watched long enough.
func (r *probeRun) settle(ctx context.Context) error {
	window := settleWindow(r.e.eventual, r.e.within, r.counts.untilFirst, r.counts.contraryBefore)
	settled := r.firstHold.Add(window)
	var err error
	if r.confirming = time.Now().Before(settled); r.confirming {
		settleWindowBegins(ctx)
		confirm := wait.Func("the outcome to keep holding", func(ctx context.Context) error {
			return r.confirm(ctx, settled, window)
		})
		err = wait.For(ctx, confirm, wait.Options{
			Timeout:     window + r.e.within,
			MinInterval: settleInterval,
			MaxInterval: settleInterval,
			Alive:       aliveAll(r.env, r.e.probe.Processes()...),
		})
	}
	if window > 0 {
		r.counts.watched = time.Since(r.firstHold)
	}
	return err
}

// confirm is one attempt of the settle window, which ends at settled:
// nil once the outcome has held past it; a contrary outcome fails the
// step at once; a failed dial says nothing of the mesh.
func (r *probeRun) confirm(ctx context.Context, settled time.Time, window time.Duration) error {
	final := !time.Now().Before(settled)
	err := r.attempt(ctx, final)
	switch {
	case err == nil:
		r.counts.holdsAfter++
		r.inARow++ // the run goes on
		if final {
			return nil
		}
		return fmt.Errorf("held %d times since it first held, watching until %s after", r.counts.holdsAfter, window)
	case r.contrary(ctx, err):
		var w wrongReply
		if errors.As(err, &w) {
			err = fmt.Errorf("%w (a wrong reply fails at once)", err)
		}
		return wait.Fatal(r.counts.contrary(err, time.Since(r.firstHold), "connections"))
	}
	return err
}

// noteHeld notes how a claim that held got there: the other replies on
// the way, the run and whether it could have been chance, the settling,
// and what ended a connection expected to end.
func (r *probeRun) noteHeld(ctx context.Context) {
	e, env := r.e, r.env
	if r.wrongReplies > 0 {
		env.Notef("%d of %d connections got another reply on the way (others-allowed)", r.wrongReplies, r.attempts)
	}
	took := fmt.Sprintf("%d attempts in all, in %s", r.attempts, time.Since(r.start).Round(time.Millisecond))
	switch need := r.streaks.needed(e.times, e.othersAllowed); {
	case need > e.times:
		env.Notef("%d held in a row, not just %d: a run of %d could be chance (%s); %s", r.inARow, e.times, e.times, r.streaks.seen(), took)
	case e.times > 1:
		env.Notef("%d held in a row; %s", r.inARow, took)
	}
	if note := r.counts.note("connections", e.within); note != "" {
		env.Notef("%s", note)
	}
	e.report(ctx, env, r.evidence)
}

// failure is the verdict of a claim that did not hold: what was expected,
// what came instead, with the logs of the probe's sidecars and of the
// backends serving its destination.
func (r *probeRun) failure(ctx context.Context, err error) error {
	e := r.e
	elapsed := time.Since(r.start)
	// Asked even when the step's time is up: bounded on its own.
	lookup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	backends := backendProcesses(lookup, r.env, *e.probe)
	var w wrongReply
	var ce contraryError
	if errors.As(err, &w) && !e.othersAllowed || errors.As(err, &ce) {
		return e.failure(fmt.Sprintf("from %s (attempt %d)", e.probe, r.attempts), err, false, elapsed, backends...)
	}
	if r.confirming && isTimeout(err) {
		// It held, then no new connection could show it still did.
		return e.failure(fmt.Sprintf("from %s (attempt %d)", e.probe, r.attempts),
			fmt.Errorf("it held, then for %s no new connection showed it still did (%d held since it first held): %w",
				r.counts.watched.Round(time.Millisecond), r.counts.holdsAfter, err), false, elapsed, backends...)
	}
	last := r.last
	if !isTimeout(err) || last == nil {
		return WithLogs(err, append(e.probe.Processes(), backends...)...)
	}
	where := fmt.Sprintf("from %s (%d attempts)", e.probe, r.attempts)
	if e.times > 1 {
		where = fmt.Sprintf("from %s %d times in a row (%d attempts)", e.probe, e.times, r.attempts)
	}
	var nc notConnected
	if r.reached != nil && errors.As(last, &nc) {
		last = fmt.Errorf("%w; the last attempt that connected: %w", last, r.reached)
	}
	if r.inARow > 0 {
		last = fmt.Errorf("%w; then %d held in a row before the time ran out", last, r.inARow)
	}
	if r.chance != nil && !errors.Is(last, r.chance) {
		last = fmt.Errorf("%w; %w", last, r.chance)
	}
	return e.failure(where, last, true, elapsed, backends...)
}

// report notes what ended a connection that was expected to end: which
// intention denied it, or what else closed it.
func (e *expect) report(ctx context.Context, env Env, evidence *Evidence) {
	if !e.closed && !e.denied {
		return
	}
	var why error
	if evidence == nil && e.probe.Service != "" {
		evidence, why = Gather(ctx, env, *e.probe)
	}
	switch {
	case evidence == nil && why != nil:
		env.Notef("observed: the connection ended with no reply; the mesh could not be asked why: %v", why)
	case evidence == nil:
		env.Notef("observed: the connection ended with no reply (a bare address: no mesh evidence to say why)")
	case e.denied:
		env.Notef("%s", evidence.Summary())
	default:
		env.Notef("observed cause: %s", evidence.Cause())
	}
}

func isTimeout(err error) bool {
	var te *wait.TimeoutError
	return errors.As(err, &te)
}

// attempt dials afresh, writes, and judges what comes back; wire (when
// set) records the connections that carried it, once dialled and before
// anything is written. seen says what came of it, for the report's
// timeline (an Attempt outcome).
func (e *expect) attempt(ctx context.Context, env Env, addr string, wire *wireWatch) (seen string, err error) {
	ctx, cancel := context.WithTimeout(ctx, probeAttemptLimit)
	defer cancel()
	var raw net.Conn
	wire.dialing()
	if e.probe.Native {
		if raw, addr, err = DialNative(ctx, env, e.probe.Service, e.probe.Upstream); err != nil {
			return AttemptNoConnect, notConnected{err}
		}
	} else if raw, err = env.Dial(ctx, "tcp", addr); err != nil {
		return AttemptNoConnect, notConnected{fmt.Errorf("could not connect to %s: %w", addr, err)}
	}
	wire.dialed(ctx, raw, addr)
	// Never half-close: the built-in proxy drops the whole connection when
	// the client shuts down its write side, before the reply is read.
	c := NewConn(raw, addr)
	defer c.Close()
	if e.send != "" {
		if _, err := c.Write([]byte(e.send)); err != nil {
			return AttemptClose, fmt.Errorf("writing to %s: %w", addr, err)
		}
	}
	why, decided := e.observe(ctx, c, false)
	if why != nil && !decided {
		return c.seen(), stalled{why}
	}
	return c.seen(), why
}
