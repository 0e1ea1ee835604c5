package steps

import (
	"fmt"
	"time"
)

// Contrary evidence is never retried away. A probe (or an intention
// check) is tried until its claimed outcome holds; the attempts that
// reached the mesh and did otherwise before that are the change
// propagating, allowed within `within`, and counted in the note. Once the
// claimed outcome has been seen, the step goes on checking for a while
// (the settle window), and any contrary outcome, before the step passes,
// fails it: a reply during `denied: true` or `closed: true`, a close or a
// deny during a run of replies, the other decision of an intention. A
// mesh that flips between outcomes (an intention flapping between allow
// and deny) would otherwise pass whichever claim it was asked about, by
// retrying until one attempt fell in the right phase.
//
// With others-allowed, other outcomes are expected on the way (another
// instance answering, a dead one closing) and are judged by the run
// statistic of times instead; nothing is contrary.

// SettleFloor is how long a claim that says it is eventual (it gives
// `within`: the mesh is converging to it) is watched after it first holds,
// at the least. A flap whose claimed phase is shorter than the window is
// seen: an intention denying for 0.3 s out of every 1.8 s fails
// `denied: true` whatever its phase when the step starts.
const SettleFloor = 500 * time.Millisecond

// settleInterval paces the attempts of the settle window: often enough
// that a contrary phase of a few tens of milliseconds is met.
const settleInterval = 20 * time.Millisecond

// settleWindow is how long, from the first time the claimed outcome was
// seen, the step goes on checking: as long as it took to get there when
// it had to (contrary outcomes came first: the path was changing, and a
// change that took that long to arrive must stay as long), and at least
// SettleFloor for an eventual claim (one that gives within); never more
// than within.
func settleWindow(eventual bool, within, untilFirst time.Duration, contraryBefore int) time.Duration {
	var w time.Duration
	if contraryBefore > 0 {
		w = untilFirst
	}
	if eventual {
		w = max(w, SettleFloor)
	}
	return min(w, within)
}

// settleCounts are what a step saw of its claimed outcome and of the
// others, for its note and its failure.
type settleCounts struct {
	// before the first time the claim held: attempts that reached the
	// mesh and did otherwise, and how long until it held
	contraryBefore int
	untilFirst     time.Duration
	// from the first hold on: the holds, and how long they were watched
	holdsAfter int
	watched    time.Duration
}

// note says, for a step that passed, what came before its outcome held
// and how long it was then watched, in one shape whatever the counts;
// "" when it was neither watched nor preceded by the opposite outcome.
func (c settleCounts) note(what string, within time.Duration) string {
	if c.watched <= 0 && c.contraryBefore == 0 {
		return ""
	}
	return fmt.Sprintf("settled: it first held after %s, %d %s having done otherwise before (the change propagating, allowed within %s); then it held on all %d in the %s after, where one contrary would have failed the step",
		c.untilFirst.Round(time.Millisecond), c.contraryBefore, what, within, c.holdsAfter, c.watched.Round(time.Millisecond))
}

// contraryError is a contrary outcome after the claim held: it fails the
// step at once, saying what came and what had come before.
type contraryError struct{ error }

// contrary is the error of a contrary outcome, got, since after the claim
// first held.
func (c settleCounts) contrary(got error, since time.Duration, what string) error {
	msg := fmt.Sprintf("after it had held (on %d %s), one %s after it first held did otherwise: %v; "+
		"an outcome contrary to the claim once it has held fails the step (is the mesh flapping?)",
		c.holdsAfter+1, what, since.Round(time.Millisecond), got)
	if c.contraryBefore > 0 {
		msg += fmt.Sprintf("; before it first held, %d %s did otherwise", c.contraryBefore, what)
	}
	return contraryError{fmt.Errorf("%s", msg)}
}
