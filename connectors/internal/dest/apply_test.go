package dest

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
)

func text(s string) cdc.Value { return cdc.Value{Kind: cdc.KindText, Data: []byte(s)} }

// TestApplyTableMerge checks the per-batch merge: the last change of a key
// wins, and an unchanged TOASTed value takes an earlier change's value.
func TestApplyTableMerge(t *testing.T) {
	tb := &applyTable{key: []int{0}, last: map[string]*pendingChange{}}
	tb.add(false, []cdc.Value{text("1"), text("a"), text("big")})
	tb.add(false, []cdc.Value{text("1"), text("b"), {Kind: cdc.KindUnchanged}})
	tb.add(false, []cdc.Value{text("2"), text("c"), {Kind: cdc.KindUnchanged}})
	tb.add(false, []cdc.Value{text("3"), text("d"), text("x")})
	tb.add(true, []cdc.Value{text("3"), {Kind: cdc.KindNull}, {Kind: cdc.KindNull}})
	if len(tb.order) != 3 {
		t.Fatalf("keys = %d, want 3", len(tb.order))
	}
	k1 := tb.last[tb.order[0]]
	if k1.del || string(k1.vals[1].Data) != "b" || k1.vals[2].Kind != cdc.KindText || string(k1.vals[2].Data) != "big" {
		t.Errorf("key 1 = %+v, want update b with the earlier TOAST value", k1)
	}
	if k2 := tb.last[tb.order[1]]; k2.vals[2].Kind != cdc.KindUnchanged {
		t.Errorf("key 2 TOAST = %q, want unchanged (keep the destination's value)", k2.vals[2].Kind)
	}
	if k3 := tb.last[tb.order[2]]; !k3.del {
		t.Errorf("key 3 = %+v, want a delete", k3)
	}
}

func TestTextArray(t *testing.T) {
	cs := []*pendingChange{
		{vals: []cdc.Value{text(`a"b\c`)}},
		{vals: []cdc.Value{{Kind: cdc.KindNull}}},
		{vals: []cdc.Value{text("")}},
		{vals: []cdc.Value{text("NULL")}},
	}
	if got, want := string(textArray(cs, 0)), `{"a\"b\\c",NULL,"","NULL"}`; got != want {
		t.Errorf("textArray = %s, want %s", got, want)
	}
}
