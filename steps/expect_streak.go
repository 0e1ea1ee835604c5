package steps

import (
	"fmt"
	"math"
)

// streakOdds counts the outcomes of a probe's attempts before its current
// run of holds: those that held, and the others (another's reply, a close,
// a stall: any attempt that reached the listener and did not hold). With
// instances picked at random, a run of the expected outcome turns up by
// chance; a run counts only once chance is unlikely to have made it.
type streakOdds struct{ right, other int }

// seen says what came before the run, for messages.
func (o streakOdds) seen() string {
	if o.other == 0 {
		return "others-allowed says something else may answer"
	}
	return fmt.Sprintf("before it, %d of %d attempts did something else", o.other, o.right+o.other)
}

// streakChance bounds the chance that a passing run was made by a path
// that still does something else: each check of a run after a attempts
// spends streakChance/((a+1)(a+2)) of it, which sums to streakChance over
// every check a probe makes.
const streakChance = 1e-4

// maxStreak bounds the run asked for, so that a claim against a mix of
// nearly only expected outcomes asks for a long run, not an endless one.
const maxStreak = 1000

// needed is how many holds in a row show more than chance, given times
// asked for. It is times itself when the claim is that one holds (times
// 1), or when nothing else was seen and others-allowed does not say that
// something else answers. Otherwise the run is judged against the null
// that something else still answers, at random as the built-in proxy
// picks (never more than half the time for the expected one when another
// instance is in rotation) or as often as seen so far if more (with one
// hold and one other added, so that a few lucky attempts do not make it
// look rare): the n with p^n <= streakChance/((a+1)(a+2)).
func (o streakOdds) needed(times int, othersAllowed bool) int {
	a := o.right + o.other
	if times <= 1 || (o.other == 0 && !othersAllowed) {
		return times
	}
	p := max(0.5, float64(o.right+1)/float64(a+2))
	n := int(math.Ceil(math.Log(streakChance/float64((a+1)*(a+2))) / math.Log(p)))
	return min(max(n, times), maxStreak)
}
