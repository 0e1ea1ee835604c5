package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
)

// Options configure a run.
type Options struct {
	// Observer hears what happens (the text report, JSON, JUnit, ...).
	Observer Observer
	LogsDir  string // logs go to LogsDir/<scenario>/; "logs" when empty
	// Consul is the consul binary, or the error to report if a step needs it.
	Consul    string
	ConsulErr error
	// Grace is how long a stopped process gets between SIGTERM and SIGKILL.
	Grace time.Duration
	// Force, once closed, makes every stop a SIGKILL at once (a second Ctrl-C).
	Force <-chan struct{}
	// Hold, when set, is called once every step has passed, before cleanup,
	// with how to reach the mesh; it returns when the run should end
	// (`scenario up` waits for Ctrl-C there).
	Hold func(ctx context.Context, h Held)
	// Agent, when set, is an existing Consul agent to run against instead
	// of starting one (`run --agent`): scenarios must start no process.
	Agent *ExternalAgent
	// HoldFailed, when set, is called instead of cleaning up at once when a
	// step has failed (`scenario up --keep-on-failure`), so that the mesh
	// can be inspected as the failure left it.
	HoldFailed func(ctx context.Context, h Held)
	// Guardian, when set, hears of every process group and network
	// namespace the run makes, to remove them if the runner dies first
	// (the reaper).
	Guardian proc.Guardian
	// Command goes into each scenario-start event, and what ConsulVersion
	// says into each scenario-end, for the reports made from events (the
	// HTML report). ConsulVersion is asked at the end so that it can be
	// found out while the first scenario runs.
	Command       string
	ConsulVersion func() string
}

// Outcome of a scenario run.
type Outcome int

const (
	Passed Outcome = iota
	Failed
	Interrupted
	// NotRunnable: the scenario needs what this machine does not allow
	// (network namespaces for nodes); it neither passed nor failed.
	NotRunnable
)

// Result says how a scenario run ended.
type Result struct {
	Scenario *Scenario
	Outcome  Outcome
	Failed   *Item // the step that failed or was interrupted, if any
	Err      error
	Duration time.Duration
	LogsDir  string
	Bundle   string // the debug bundle of a failed scenario, if written
}

// Interrupt is the cancellation cause the CLI uses for a signal, so that a
// run can tell an interruption from a failure.
type Interrupt struct{ Signal os.Signal }

func (i Interrupt) Error() string {
	switch i.Signal {
	case syscall.SIGINT:
		return "interrupted by SIGINT"
	case syscall.SIGTERM:
		return "interrupted by SIGTERM"
	}
	return "interrupted by " + i.Signal.String()
}

// DefaultGrace is how long processes get to exit after SIGTERM.
const DefaultGrace = 5 * time.Second

// Run executes sc's steps in order, stopping at the first failure, then
// stops everything it started, newest first, whatever happened (including a
// panic in a step, which is re-raised after cleanup).
func Run(ctx context.Context, sc *Scenario, opts Options) (res Result) {
	if opts.Observer == nil {
		opts.Observer = NewReporter(os.Stdout, false, false)
	}
	if opts.LogsDir == "" {
		opts.LogsDir = "logs"
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	red := newRedactor()
	emit := func(e Event) {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		e.Scenario, e.File = sc.Name, sc.File
		opts.Observer.Observe(red.event(e))
	}
	start := time.Now()
	res = Result{Scenario: sc, LogsDir: LogFolder(opts.LogsDir, sc.Name)}
	var warnings []string
	for _, w := range sc.Warnings {
		warnings = append(warnings, w.Error())
	}
	emit(Event{Event: "scenario-start", Description: sc.Description, Steps: len(sc.Items), Warnings: warnings,
		Command: opts.Command, Graph: Graph(sc)})
	defer func() {
		res.Duration = time.Since(start)
		end := Event{Event: "scenario-end", Steps: len(sc.Items), DurationMS: milliseconds(res.Duration), LogsDir: res.LogsDir, Bundle: res.Bundle}
		if opts.ConsulVersion != nil {
			end.ConsulVersion = opts.ConsulVersion()
		}
		switch res.Outcome {
		case Passed:
			end.Outcome = OutcomePassed
		case Interrupted:
			end.Outcome = OutcomeInterrupted
		case NotRunnable:
			end.Outcome = OutcomeNotRunnable
		default:
			end.Outcome = OutcomeFailed
		}
		if res.Failed != nil {
			end.FailedStep = res.Failed.Index + 1
			end.Error = fmt.Sprintf("%d (%s %s)", res.Failed.Index+1, res.Failed.Type, res.Failed.Label)
		} else if res.Err != nil {
			end.Error = res.Err.Error()
		}
		emit(end)
	}()

	oldLogsRemoved, err := prepareLogFolder(res.LogsDir)
	if oldLogsRemoved != nil {
		// After cleanup: the last run's logs are gone by the end of this one.
		defer func() {
			if err := oldLogsRemoved(); err != nil && res.Outcome == Passed {
				res.Outcome, res.Err = Failed, err
			}
		}()
	}
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	sess := &session{guardian: opts.Guardian, redactor: red, logsDir: res.LogsDir, consulBin: opts.Consul, consulErr: opts.ConsulErr, grace: opts.Grace, force: opts.Force,
		workDir: filepath.Dir(sc.File), emit: emit}
	removeNetwork := func() {}
	defer func() {
		cleanupStart := time.Now()
		if sess.external {
			// What steps changed in the existing cluster is put back
			// first, whatever happened.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			done, err := sess.undoAll(ctx)
			cancel()
			if len(done) > 0 || len(sess.notUndone) > 0 || err != nil {
				emit(Event{Event: "cleanup", Undone: done, NotUndone: sess.notUndone, DurationMS: milliseconds(time.Since(cleanupStart))})
			}
			if err != nil && res.Outcome != Interrupted {
				res.Outcome, res.Err = Failed, err
			}
		}
		if sess.net != nil {
			// Faults the scenario made are undone first, so that agents
			// on a cut node leave at once instead of timing out.
			_ = sess.net.Heal()
		}
		stopped := sess.closeAll()
		// Every end is reported before the scenario's.
		sess.watchers.Wait()
		if len(stopped) > 0 {
			emit(Event{Event: "cleanup", Stopped: stopped, DurationMS: milliseconds(time.Since(cleanupStart))})
		}
		removeNetwork()
		// A run whose evidence was lost (a full disk) does not pass; once
		// every process is stopped, all they wrote has been copied.
		if err := sess.logFailures(); err != nil && res.Outcome == Passed {
			res.Outcome, res.Err = Failed, err
		}
	}()

	if opts.Agent != nil {
		if err := checkExternal(sc, *opts.Agent); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
		if err := sess.useExternal(ctx, *opts.Agent); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
	}
	if len(sc.Nodes) > 0 {
		lab, took, err := openNetwork(sc, opts.Guardian)
		var nr *NotRunnableError
		switch {
		case errors.As(err, &nr):
			res.Outcome, res.Err = NotRunnable, err
			return res
		case err != nil:
			res.Outcome, res.Err = Failed, err
			return res
		}
		// Removed once every process in it has stopped (see below).
		removeNetwork = func() {
			start := time.Now()
			err := lab.Close()
			emit(Event{Event: "network", Removed: true, DurationMS: milliseconds(time.Since(start))})
			if err != nil && res.Outcome == Passed {
				res.Outcome, res.Err = Failed, fmt.Errorf("removing the scenario's network: %w", err)
			}
		}
		sess.net, sess.cluster = labNetwork{lab}, sc.Cluster
		var nodes []NodeInfo
		for _, n := range lab.Nodes() {
			nodes = append(nodes, NodeInfo{Name: n.Name(), Addr: n.Addr().String(), Namespace: n.Namespace()})
		}
		emit(Event{Event: "network", Nodes: nodes, DurationMS: milliseconds(took)})
	}

	outer := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, sc.Timeout, fmt.Errorf("the scenario's timeout of %s passed", sc.Timeout))
	defer cancel()
	// A process of the scenario that dies by itself fails the run at once:
	// a probe in flight ends within milliseconds, not after its within.
	ctx, died := context.WithCancelCause(ctx)
	defer died(nil)
	// While `up` holds the mesh, a death ends the hold too, as a failure.
	holdCtx, holdDied := context.WithCancelCause(outer)
	defer holdDied(nil)
	sess.died = func(err error) { died(err); holdDied(err) }
	x := &execution{ctx: ctx, sc: sc, sess: sess, emit: emit, res: &res}
	// The agents of nodes listen inside their nodes, not on the host:
	// each node is described instead.
	heldMesh := func() (Held, func()) {
		addr := sess.AgentAddress()
		if len(sc.Nodes) > 0 {
			addr = ""
		}
		return sess.held(sc, addr)
	}
	if !x.runSteps() {
		if res.Outcome == Failed && sess.hasAgent() {
			// What the mesh looked like, before anything is torn down.
			bundleStart := time.Now()
			dir := filepath.Join(res.LogsDir, BundleFolder)
			problems := sess.writeBundle(dir)
			res.Bundle = dir
			emit(Event{Event: "bundle", Bundle: dir, DurationMS: milliseconds(time.Since(bundleStart)), Error: strings.Join(problems, "\n")})
		}
		if opts.HoldFailed != nil && res.Outcome == Failed && outer.Err() == nil {
			h, stop := heldMesh()
			opts.HoldFailed(outer, h)
			stop()
		}
		return res
	}
	if opts.Hold != nil {
		h, stop := heldMesh()
		opts.Hold(holdCtx, h)
		stop()
		var dead *DiedError
		if errors.As(context.Cause(holdCtx), &dead) {
			res.Outcome, res.Err = Failed, fmt.Errorf("while the mesh was held up: %w", dead)
		}
	}
	return res
}

// execution runs one scenario's steps in order. A Starter's readiness is
// awaited when a later step needs it, and the steps that may go Beside it
// (steps.Beside) begin meanwhile, so that waits overlap; each step still
// passes or fails as itself, and is reported, in order.
type execution struct {
	ctx     context.Context // carries the scenario's deadline
	sc      *Scenario
	sess    *session
	emit    func(Event)
	res     *Result
	pending []pendingStep // started, readiness not yet awaited
	// starts are the Starts running in the background (see
	// steps.BesideStarting), all awaited before the run goes on to
	// cleanup.
	starts sync.WaitGroup
}

// runSteps reports whether every step passed.
func (x *execution) runSteps() bool {
	defer func() {
		for _, p := range x.pending {
			p.cancel()
		}
		// What a Start still running starts is stopped at cleanup too.
		x.starts.Wait()
	}()
	for i := range x.sc.Items {
		if !x.step(i) {
			return false
		}
	}
	return x.settle()
}

// step runs (or starts) item i; false means the run stops here, with the
// rest of the steps already reported as skipped.
func (x *execution) step(i int) bool {
	item := &x.sc.Items[i]
	starter, overlaps := item.Step.(steps.Starter)
	if !x.awaitStarts(item.Step) {
		return false
	}
	// A step goes beside pending ones only when it neither needs nor
	// disturbs what they wait for: a sidecar started while its agent is
	// still settling would find no agent to ask. The pending steps up to
	// the last one it may not go beside settle first, in order.
	last := len(x.pending) - 1
	if x.ctx.Err() == nil {
		last = x.lastBlocking(item.Step)
		// Those that ran already after it are reported now too.
		for last+1 < len(x.pending) && x.pending[last+1].done {
			last++
		}
	}
	if last >= 0 && !x.settleThrough(last) {
		return false
	}
	if x.ctx.Err() != nil {
		var died *DiedError
		if errors.As(context.Cause(x.ctx), &died) {
			// The next step fails, naming the process that died.
			x.emit(Event{Event: "step-start", Step: stepEvent(item)})
			x.conclude(item, died, 0, nil)
			x.skipFrom(i+1, nil)
			return false
		}
		x.res.Outcome, x.res.Failed, x.res.Err = stopOutcome(x.ctx), item, context.Cause(x.ctx)
		x.skipFrom(i, x.res.Err)
		return false
	}
	x.emit(Event{Event: "step-start", Step: stepEvent(item)})
	stepCtx, cancel := stepContext(x.ctx, item)
	start := time.Now()
	out := &stepOutput{start: start}
	env := stepEnv{session: x.sess, node: item.Node, step: item.Index + 1, out: out}
	x.noteNotUndone(item, env)
	var err error
	if overlaps && x.nextStartsBeside(i) {
		// The next step's Start goes beside this one's.
		bg := &backgroundStart{done: make(chan struct{})}
		x.starts.Add(1)
		go func() {
			defer x.starts.Done()
			defer close(bg.done)
			bg.err = runRecovered(func() (err error) { bg.ready, err = starter.Start(stepCtx, env); return err })
			bg.ended = time.Now()
		}()
		x.pending = append(x.pending, pendingStep{item: item, out: out, ready: bg.settle, ctx: stepCtx, cancel: cancel, start: start, bg: bg})
		return true
	}
	if overlaps {
		var ready func(context.Context) error
		err = runRecovered(func() (err error) { ready, err = starter.Start(stepCtx, env); return err })
		if err == nil {
			ps := pendingStep{item: item, out: out, ready: ready, ctx: stepCtx, cancel: cancel, start: start}
			if _, watches := item.Step.(steps.Passable); watches {
				ps.ready, ps.ended = watchFrom(stepCtx, ready)
			}
			x.pending = append(x.pending, ps)
			return true
		}
		// Earlier steps come first in the report, and may explain this.
		if !x.settle() {
			cancel()
			return false
		}
	} else {
		undos := x.sess.undoCount()
		err = runRecovered(func() error { return steps.Run(stepCtx, env, item.Step) })
		err = x.checkUndoable(item, err, undos)
	}
	err = explain(x.ctx, stepCtx, err)
	cancel()
	if len(x.pending) > 0 {
		// It ran beside steps still settling: its outcome is reported
		// after theirs, in order; a failure stops the run there.
		elapsed := time.Since(start)
		x.pending = append(x.pending, pendingStep{item: item, out: out, ctx: stepCtx, cancel: cancel, start: start,
			done: true, err: err, elapsed: elapsed})
		if err != nil {
			return x.settle()
		}
		return true
	}
	if x.conclude(item, err, time.Since(start), out) {
		x.skipFrom(i+1, nil)
		return false
	}
	return true
}

// Against an existing cluster, a step is held to its type's declared
// effect. One whose changes are undone must have said how (registered an
// undo) when it passed: checkUndoable fails it otherwise. One that runs a
// command is listed, in its notes and at cleanup, as a change that stays:
// noteNotUndone, before it runs, since even a failed command may have
// changed something.

// checkUndoable fails a passed step that declares its changes undone but
// registered no undo; undos is how many there were before it ran.
func (x *execution) checkUndoable(item *Item, err error, undos int) error {
	if x.sess.external && item.Cluster.Use == steps.UseUndone && err == nil && x.sess.undoCount() == undos {
		return fmt.Errorf("step %d (%s) changed the live cluster but left no way to put it back (a bug in its step type): put back what it did by hand", item.Index+1, item.Type)
	}
	return err
}

func (x *execution) noteNotUndone(item *Item, env steps.Env) {
	if x.sess.external && item.Cluster.Use == steps.UseNotUndone {
		x.sess.notUndone = append(x.sess.notUndone, fmt.Sprintf("step %d (%s) %s", item.Index+1, item.Type, item.Label))
		env.Notef("what this command changes in the live cluster stays changed: the runner cannot undo it (--allow-writes)")
	}
}

// nextStartsBeside says whether step i+1 may begin while step i's Start
// still runs (steps.BesideStarting); a step that only watches always
// starts in the foreground.
func (x *execution) nextStartsBeside(i int) bool {
	if i+1 >= len(x.sc.Items) {
		return false
	}
	s := x.sc.Items[i].Step
	if _, watches := s.(steps.Passable); watches {
		return false
	}
	next, ok := x.sc.Items[i+1].Step.(steps.BesideStarting)
	return ok && next.BesideStarting(s)
}

// awaitStarts waits for the Starts running in the background that s may
// not begin beside; false means one failed: it was reported, after the
// steps before it, and the steps after it as skipped.
func (x *execution) awaitStarts(s steps.Step) bool {
	b, _ := s.(steps.BesideStarting)
	for k, p := range x.pending {
		if p.bg == nil || b != nil && b.BesideStarting(p.item.Step) {
			continue
		}
		<-p.bg.done
		if p.bg.err != nil {
			return x.settleThrough(k)
		}
	}
	return true
}

// lastBlocking is the index of the last pending step that s may not
// begin beside, or -1 when it may begin beside them all.
func (x *execution) lastBlocking(s steps.Step) int {
	b, beside := s.(steps.Beside)
	last := -1
	for i, p := range x.pending {
		switch w, passable := p.item.Step.(steps.Passable); {
		case p.done: // it ran already; only its report waits
		case passable && w.Passes(s): // it only watches, and s cannot disturb that
		case beside && b.Beside(p.item.Step):
		default:
			last = i
		}
	}
	return last
}

// settle awaits the pending steps in order; false means one failed, and
// the steps after it were reported as skipped.
func (x *execution) settle() bool { return x.settleThrough(len(x.pending) - 1) }

// settleThrough awaits the pending steps up to index last, in order, and
// keeps the others pending; false means one failed: the steps after it
// were reported, as having run beside it or as skipped.
func (x *execution) settleThrough(last int) bool {
	pending := x.pending
	x.pending = slices.Clone(pending[last+1:])
	for k, p := range pending[:last+1] {
		err, elapsed := p.err, p.elapsed
		if !p.done {
			err = explain(x.ctx, p.ctx, runRecovered(func() error { return p.ready(p.ctx) }))
			elapsed = time.Since(p.start)
			if p.ended != nil {
				elapsed = p.ended.Sub(p.start) // it ended before it was asked
			}
			if p.bg != nil && p.bg.err != nil {
				elapsed = p.bg.ended.Sub(p.start) // its Start failed
			}
		}
		p.cancel()
		if x.conclude(p.item, err, elapsed, p.out) {
			x.pending = nil
			next := p.item.Index + 1
			for _, q := range pending[k+1:] {
				q.cancel()
				if q.done {
					// It ran beside the failed step, before the failure
					// showed: say what it did rather than call it skipped.
					x.reportRan(q, p.item)
				} else {
					x.skip(q.item, nil)
				}
				next = q.item.Index + 1
			}
			x.skipFrom(next, nil)
			return false
		}
	}
	return true
}

// reportRan reports a step that ran beside failed, an earlier step whose
// failure showed only after it had run, without letting its outcome stand
// for the scenario's.
func (x *execution) reportRan(q pendingStep, failed *Item) {
	ev := stepEvent(q.item)
	ev.DurationMS = milliseconds(q.elapsed)
	q.out.fill(ev)
	ev.Notes = append(ev.Notes, fmt.Sprintf("it ran while step %d was still settling, before that step failed", failed.Index+1))
	ev.Outcome = OutcomePassed
	if q.err != nil {
		ev.Outcome, ev.Error = OutcomeFailed, q.err.Error()
	} else {
		x.changed(q.item, q.start.Add(q.elapsed))
	}
	x.emit(Event{Event: "step-end", Step: ev})
}

func (x *execution) skipFrom(index int, why error) {
	for i := index; i < len(x.sc.Items); i++ {
		var err error
		if i == index {
			err = why
		}
		x.skip(&x.sc.Items[i], err)
	}
}

// skip reports item as skipped, with why when set.
func (x *execution) skip(item *Item, why error) {
	ev := stepEvent(item)
	ev.Outcome = OutcomeSkipped
	if why != nil {
		ev.Error = why.Error()
	}
	x.emit(Event{Event: "step-end", Step: ev})
}

// conclude reports how a step ended and says whether the run stops.
func (x *execution) conclude(item *Item, err error, elapsed time.Duration, out *stepOutput) bool {
	ev := stepEvent(item)
	ev.DurationMS = milliseconds(elapsed)
	out.fill(ev)
	if err == nil {
		// A log that could not be written (a full disk) fails the step
		// during which it happened: the run's evidence is incomplete.
		err = x.sess.logFailures()
	}
	if err == nil {
		ev.Outcome = OutcomePassed
		at := time.Now()
		if out != nil {
			at = out.start.Add(elapsed)
		}
		x.changed(item, at)
		x.emit(Event{Event: "step-end", Step: ev})
		return false
	}
	res := x.res
	res.Outcome, res.Failed, res.Err = Failed, item, err
	if !proc.IsExit(err) {
		// A process that died may explain the failure; a broken
		// connection may have been seen before the death was reaped.
		// Any failure waits a little for a death to be reaped (a listener
		// gone before its process was reaped looks like a plain failure).
		settle := deathSettle / 4
		if isConnectionError(err) {
			settle = deathSettle
		}
		if dead := x.sess.deaths(settle); len(dead) > 0 {
			res.Err = fmt.Errorf("%w\n%v", errors.Join(dead...), err)
			names := steps.RelevantLogs(err)
			for _, d := range dead {
				var pe *proc.ExitError
				if errors.As(d, &pe) {
					names = append(names, pe.Name)
				}
			}
			err = steps.WithLogs(res.Err, names...)
		}
	}
	logs := steps.RelevantLogs(err)
	var died *DiedError
	if x.ctx.Err() != nil {
		res.Outcome = stopOutcome(x.ctx)
		cause := context.Cause(x.ctx)
		if errors.As(cause, &died) {
			logs = append([]string{died.Name}, logs...)
		}
		var known *proc.ExitError
		if errors.Is(err, cause) || died != nil && errors.As(err, &known) && known.Name == died.Name {
			res.Err = err
		} else {
			res.Err = fmt.Errorf("%w (%v)", cause, err)
		}
	}
	ev.Error = res.Err.Error()
	if res.Outcome == Interrupted {
		ev.Outcome = OutcomeInterrupted
	} else {
		ev.Outcome = OutcomeFailed
		ev.Logs = x.sess.tails(logs, tailLines)
	}
	x.emit(Event{Event: "step-end", Step: ev})
	return true
}

const tailLines = 8

// deathSettle bounds how long a failed step's connection error waits for
// the death of a process to be noticed, so that the failure names it.
const deathSettle = 500 * time.Millisecond

func isConnectionError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF)
}

func stopOutcome(ctx context.Context) Outcome {
	var intr Interrupt
	if errors.As(context.Cause(ctx), &intr) {
		return Interrupted
	}
	return Failed
}

// stepContext gives a step its own deadline.
func stepContext(ctx context.Context, item *Item) (context.Context, context.CancelFunc) {
	if item.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, item.Timeout,
		fmt.Errorf("the step's timeout of %s passed (set a longer one with `timeout:` on the step)", item.Timeout))
}

// explain says that a step failed because its own deadline passed, when it
// did. I/O deadlines taken from the context can fire a moment before the
// context itself is marked done, so the deadline is compared too.
func explain(ctx, stepCtx context.Context, err error) error {
	deadline, hasDeadline := stepCtx.Deadline()
	if err != nil && ctx.Err() == nil && (stepCtx.Err() != nil || hasDeadline && !time.Now().Before(deadline)) {
		<-stepCtx.Done()
		err = fmt.Errorf("%w: %v", context.Cause(stepCtx), err)
	}
	return err
}

// pendingStep is a started step whose readiness is awaited later.
type pendingStep struct {
	item   *Item
	out    *stepOutput
	ready  func(context.Context) error
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	// done: the step ran beside earlier pending ones and has its
	// outcome; only its report waits for theirs.
	done    bool
	err     error
	elapsed time.Duration
	// ended, for a step that only watches, is when its watch ended.
	ended *time.Time
	// bg, for a step whose Start runs in the background, is that Start.
	bg *backgroundStart
}

// backgroundStart is a Starter's Start running beside the next step's
// (steps.BesideStarting).
type backgroundStart struct {
	done  chan struct{} // closed once Start has returned
	ready func(context.Context) error
	err   error
	ended time.Time
}

// settle awaits the Start, then what it returned.
func (b *backgroundStart) settle(ctx context.Context) error {
	<-b.done
	if b.err != nil {
		return b.err
	}
	return b.ready(ctx)
}

// watchFrom settles a step that only watches (steps.Passable) in the
// background from its start, so that its verdict, and when it came, are
// known whenever the runner asks for them.
func watchFrom(ctx context.Context, ready func(context.Context) error) (settle func(context.Context) error, ended *time.Time) {
	result := make(chan error, 1)
	ended = new(time.Time)
	go func() {
		err := runRecovered(func() error { return ready(ctx) })
		*ended = time.Now()
		result <- err
	}()
	return func(context.Context) error { return <-result }, ended
}

// runRecovered turns a panic in a step into that step's failure, so that
// one bug fails one scenario with its stack, and cleanup still happens.
func runRecovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the step panicked (a bug in scenario, please report it): %v\n%s", r, debug.Stack())
		}
	}()
	return fn()
}

// FindConsul finds the consul binary: the flag, then $CONSUL, then
// bin/consul here or beside this executable, then PATH.
func FindConsul(flag string) (string, error) {
	if flag != "" {
		return checkExecutable(flag, "--consul")
	}
	if env := os.Getenv("CONSUL"); env != "" {
		return checkExecutable(env, "$CONSUL")
	}
	candidates := []string{filepath.Join("bin", "consul")}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "consul"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return filepath.Abs(c)
		}
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", errors.New("no consul binary: not given with --consul or $CONSUL, not in bin/consul, not in PATH; " +
		"run `make setup` to build Consul v1.15.4 into bin/consul")
}

func checkExecutable(path, from string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("consul binary from %s: %w; run `make setup` to build one into bin/consul", from, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("consul binary from %s: %s is not an executable file", from, path)
	}
	return filepath.Abs(path)
}
