package dest

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
)

func text(s string) cdc.Value { return cdc.Value{Kind: cdc.KindText, Data: []byte(s)} }

var (
	null      = cdc.Value{Kind: cdc.KindNull}
	unchanged = cdc.Value{Kind: cdc.KindUnchanged}
)

// TestApplyTableMerge checks the per-batch net effect: the last change of
// a key wins, an unchanged TOASTed value takes an earlier change's value,
// and a delete then a re-insert of a key is the re-insert.
func TestApplyTableMerge(t *testing.T) {
	tb := &applyTable{key: []int{0}, cols: make([]cdc.Column, 3)}
	tb.add(false, []cdc.Value{text("1"), text("a"), text("big")})
	tb.add(false, []cdc.Value{text("1"), text("b"), unchanged})
	tb.add(false, []cdc.Value{text("2"), text("c"), unchanged})
	tb.add(false, []cdc.Value{text("3"), text("d"), text("x")})
	tb.add(true, []cdc.Value{text("3"), null, null})
	tb.add(true, []cdc.Value{text("4"), null, null})
	tb.add(false, []cdc.Value{text("4"), text("e"), text("y")})
	tb.add(false, []cdc.Value{text("4"), text("f"), unchanged})
	if len(tb.pend) != 4 {
		t.Fatalf("keys = %d, want 4", len(tb.pend))
	}
	k1 := tb.values(tb.pend[0])
	if tb.pend[0].del || string(k1[1].Data) != "b" || k1[2].Kind != cdc.KindText || string(k1[2].Data) != "big" {
		t.Errorf("key 1 = %+v, want update b with the earlier TOAST value", k1)
	}
	if k2 := tb.values(tb.pend[1]); k2[2].Kind != cdc.KindUnchanged {
		t.Errorf("key 2 TOAST = %q, want unchanged (keep the destination's value)", k2[2].Kind)
	}
	if !tb.pend[2].del {
		t.Errorf("key 3 = %+v, want a delete", tb.values(tb.pend[2]))
	}
	if k4 := tb.values(tb.pend[3]); tb.pend[3].del || string(k4[1].Data) != "f" || string(k4[2].Data) != "y" {
		t.Errorf("key 4 = %+v (deleted %v), want the re-insert f with its TOAST value y", k4, tb.pend[3].del)
	}
	tb.reset()
	tb.add(false, []cdc.Value{text("1"), text("z"), unchanged})
	if len(tb.pend) != 1 || tb.values(tb.pend[0])[2].Kind != cdc.KindUnchanged {
		t.Errorf("after reset: %d keys, values %+v; want one key, TOAST unchanged", len(tb.pend), tb.vals)
	}
}

func TestTextArray(t *testing.T) {
	tb := &applyTable{key: []int{0}, cols: make([]cdc.Column, 1)}
	for _, v := range []cdc.Value{text(`a"b`), null, text(""), text("NULL")} {
		tb.add(false, []cdc.Value{v})
	}
	// The key encoding keeps NULL and "NULL" apart.
	if len(tb.pend) != 4 {
		t.Fatalf("keys = %d, want 4", len(tb.pend))
	}
	want := []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, oidText, 0, 0, 0, 4, 0, 0, 0, 1,
		0, 0, 0, 3, 'a', '"', 'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 4, 'N', 'U', 'L', 'L'}
	if got := tb.textArray(nil, tb.pend[:2], tb.pend[2:], 0); string(got) != string(want) {
		t.Errorf("textArray = %v, want %v", got, want)
	}
	// unnest reuses its buffers: a second statement's arrays overwrite the
	// first's, whatever their sizes.
	var bufs [][]byte
	_, p := tb.unnest(&bufs, tb.pend[:1], nil, []int{0}, false)
	if len(p.vals) != 1 || len(bufs) != 1 {
		t.Fatalf("unnest of one column: %d parameters, %d buffers", len(p.vals), len(bufs))
	}
	_, p = tb.unnest(&bufs, tb.pend[:2], tb.pend[2:], []int{0}, false)
	if string(p.vals[0]) != string(want) || &bufs[0][0] != &p.vals[0][0] {
		t.Errorf("unnest again = %v (in its buffer: %v), want %v", p.vals[0], &bufs[0][0] == &p.vals[0][0], want)
	}
}

func TestTargetName(t *testing.T) {
	tables := []string{"a.t", "b.t", "u", "a.v"}
	for src, want := range map[string]string{"a.t": "a_t", "b.t": "b_t", "public.u": "u", "a.v": "v"} {
		if got := TargetName(src, tables); got != want {
			t.Errorf("TargetName(%q) = %q, want %q", src, got, want)
		}
	}
}
