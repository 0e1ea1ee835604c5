// Package suggest finds the word a user probably meant ("did you mean"),
// for the scenario format's keys and names and for Consul's own keys.
package suggest

import "strings"

// Closest returns the candidate closest to s when it is a plausible typo.
// Between equally close candidates, the one sharing the longest prefix
// with s wins: "expec" is a cut-off "expect" before it is "exec".
func Closest(s string, candidates []string) string {
	best, bestDist, bestPrefix := "", 3, -1
	low := strings.ToLower(s)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := editDistance(low, lc)
		if p := commonPrefix(low, lc); d < bestDist || (d == bestDist && d < 3 && p > bestPrefix) {
			best, bestDist, bestPrefix = c, d, p
		}
	}
	return best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
