package pipeline

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to word by edit distance (ignoring
// case), or "" when none is close enough to be a likely typo.
func suggest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		d := levenshtein(w, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len(best)/3) || bestD >= max(len(w), 1) {
		return ""
	}
	return best
}

// didYouMean renders ` (did you mean "x"?)` or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" && s != word {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// levenshtein is the edit distance between a and b, over bytes; inputs are
// short keys and enum values. Long inputs are cut to bound the cost.
func levenshtein(a, b string) int {
	const limit = 64
	if len(a) > limit {
		a = a[:limit]
	}
	if len(b) > limit {
		b = b[:limit]
	}
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

// DidYouMean renders ` (did you mean "x"?)` naming the candidate closest
// to word, or "" when none is a likely typo of it.
func DidYouMean(word string, candidates []string) string { return didYouMean(word, candidates) }
