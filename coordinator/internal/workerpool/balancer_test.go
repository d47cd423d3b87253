package workerpool

import (
	"testing"
)

// pick places one call of role r with hint h and records it as in flight.
func pick(l *loads, addrs []string, r role, h hint) string {
	i, _ := l.place(addrs, r, h)
	a := addrs[i]
	l.add(a, r, 1)
	return a
}

func TestPlaceSpreadsStreamsOpenedTogether(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		addrs := []string{"w1:1", "w2:1", "w3:1", "w4:1"}[:n]
		l := newLoads()
		reads, writes := map[string]int{}, map[string]int{}
		const streams = 12
		for range streams {
			src := pick(l, addrs, roleRead, hint{})
			dst := pick(l, addrs, roleWrite, hint{apart: src})
			if src == dst {
				t.Fatalf("%d workers: read and write of one stream both on %s", n, src)
			}
			reads[src]++
			writes[dst]++
		}
		for _, a := range addrs {
			// 12 reads and 12 writes over n workers: each gets its share,
			// within one, of both.
			if lo, hi := streams/n, (streams+n-1)/n; reads[a] < lo || reads[a] > hi || writes[a] < lo || writes[a] > hi {
				t.Errorf("%d workers: %s has %d reads and %d writes, want %d..%d of each (reads %v, writes %v)",
					n, a, reads[a], writes[a], lo, hi, reads, writes)
			}
		}
	}
}

func TestPlaceTakesTurnsWhenIdle(t *testing.T) {
	addrs := []string{"a:1", "b:1"}
	l := newLoads()
	var srcs []string
	for range 4 {
		src := pick(l, addrs, roleRead, hint{})
		dst := pick(l, addrs, roleWrite, hint{apart: src})
		srcs = append(srcs, src)
		// The stream ends before the next one starts.
		l.add(src, roleRead, -1)
		l.add(dst, roleWrite, -1)
	}
	want := []string{"a:1", "b:1", "a:1", "b:1"}
	for i := range want {
		if srcs[i] != want[i] {
			t.Fatalf("reads of one-at-a-time streams went to %v, want %v", srcs, want)
		}
	}
	if len(l.byAddr) != 0 {
		t.Errorf("loads after every call ended: %v, want none", l.byAddr)
	}
}

func TestPlacePrefersLeastLoaded(t *testing.T) {
	addrs := []string{"a:1", "b:1", "c:1"}
	l := newLoads()
	l.add("a:1", roleRead, 1)
	l.add("a:1", roleWrite, 1)
	l.add("b:1", roleWrite, 1)
	if got := pick(l, addrs, roleRead, hint{}); got != "c:1" {
		t.Errorf("read went to %s, want the idle c:1", got)
	}
	// b and c have one call each; c's is a read, so a read goes to b.
	if got := pick(l, addrs, roleRead, hint{}); got != "b:1" {
		t.Errorf("second read went to %s, want b:1 (fewer reads than c:1)", got)
	}
}

func TestPlaceHints(t *testing.T) {
	addrs := []string{"a:1", "b:1", "c:1"}
	l := newLoads()
	l.add("b:1", roleRead, 5)
	l.add("c:1", roleWrite, 1)
	tests := []struct {
		name string
		h    hint
		want string
		tier int
	}{
		{"least loaded", hint{}, "a:1", 0},
		{"avoid beats load", hint{avoid: []string{"a:1", "c:1"}}, "b:1", 0},
		{"apart", hint{apart: "a:1"}, "c:1", 0},
		{"apart beats load", hint{apart: "a:1", avoid: []string{"c:1"}}, "b:1", 0},
		{"avoid beats apart", hint{apart: "b:1", avoid: []string{"a:1", "c:1"}}, "b:1", 1},
		{"every worker avoided: least loaded", hint{avoid: addrs}, "a:1", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, tier := l.place(addrs, roleWrite, tc.h)
			if got := addrs[i]; got != tc.want || tier != tc.tier {
				t.Errorf("placed on %s (tier %d), want %s (tier %d)", got, tier, tc.want, tc.tier)
			}
		})
	}
}
