package dest

import (
	"strconv"
	"testing"
)

// TestKeyIndex checks the index against a map over enough keys to grow it
// several times, with repeats, prefixes of other keys and a reset.
func TestKeyIndex(t *testing.T) {
	var x keyIndex
	for round := range 2 {
		want := map[string]int32{}
		for i := range 20_000 {
			// Keys 0..9999 twice (the second time must find the first
			// value), and prefixes: "1" and "10" are different keys.
			k := strconv.Itoa(i % 10_000)
			if i%3 == 0 {
				k += "x"
			}
			got, seen := x.get([]byte(k), int32(i))
			w, ok := want[k]
			if !ok {
				want[k] = int32(i)
				w = int32(i)
			}
			if seen != ok || got != w {
				t.Fatalf("round %d: get(%q) = %d, %v; want %d, %v", round, k, got, seen, w, ok)
			}
		}
		if len(x.ents) != len(want) {
			t.Fatalf("round %d: %d keys, want %d", round, len(x.ents), len(want))
		}
		x.reset()
		if _, seen := x.get([]byte("0"), -1); seen {
			t.Fatalf("round %d: a key survived reset", round)
		}
		x.reset()
	}
	if _, seen := x.get(nil, 1); seen {
		t.Fatal("the empty key was found before it was stored")
	}
	if v, seen := x.get([]byte{}, 2); !seen || v != 1 {
		t.Fatalf("the empty key: %d, %v; want 1, true", v, seen)
	}
}

// TestKeyIndexSeeded: two indexes hash the same keys differently (each
// draws its own seed), so keys chosen at the source to collide in one
// cannot be precomputed.
func TestKeyIndexSeeded(t *testing.T) {
	var a, b keyIndex
	a.get([]byte("k"), 1)
	b.get([]byte("k"), 1)
	same := 0
	for i := range 64 {
		k := []byte(strconv.Itoa(i))
		if a.hash(k) == b.hash(k) {
			same++
		}
	}
	if same == 64 {
		t.Fatalf("two indexes hash 64 keys alike (seeds %d and %d): the hash is not seeded", a.seed, b.seed)
	}
}
