package pgconnector

import (
	"bytes"
	"slices"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// TestInputHoldCopiesTheBatch: a held batch keeps its rows after the
// frame it was read from is overwritten, reuses a spare's memory, and a
// batch over the limit is not held.
func TestInputHoldCopiesTheBatch(t *testing.T) {
	cfg := pgtest.NewDB(t)
	pgtest.Exec(t, pgtest.Connect(t, cfg), pgtest.AllTypesSQL)
	f, err := readAll(t, config(t, cfg, nil), abi.StreamSpec{Name: "all_types"}, nil, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	in := &input{}
	var spare *heldBatch
	for i, frame := range f.frames {
		buf := slices.Clone(frame)
		v := batch.NewView(f.schema)
		if err := v.Parse(buf); err != nil {
			t.Fatal(err)
		}
		in.cur.setView(v)
		if h := in.Hold(&in.cur, nil, 1); h != nil {
			t.Fatalf("frame %d: a batch over the limit was held", i)
		}
		var sp dest.Held
		if spare != nil {
			sp = spare // a nil *heldBatch is not a nil dest.Held
		}
		h := in.Hold(&in.cur, sp, 1<<30)
		if spare != nil && h != spare && cap(spare.data) >= h.Size() {
			t.Errorf("frame %d: the spare had room and was not reused", i)
		}
		clear(buf) // the iterator's buffer, reused for the next frame
		b, err := h.Batch()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := batch.NewView(f.schema)
		if err := want.Parse(frame); err != nil {
			t.Fatal(err)
		}
		rows, nodes, bufs := b.(*inputBatch).view.Layout()
		wantRows, wantNodes, wantBufs := want.Layout()
		if rows != wantRows || !slices.Equal(nodes, wantNodes) || len(bufs) != len(wantBufs) {
			t.Fatalf("frame %d: %d rows, %d nodes, %d buffers; want %d, %d, %d", i, rows, len(nodes), len(bufs), wantRows, len(wantNodes), len(wantBufs))
		}
		for j := range bufs {
			if !bytes.Equal(bufs[j], wantBufs[j]) {
				t.Fatalf("frame %d: buffer %d differs from the frame's", i, j)
			}
		}
		spare = h.(*heldBatch)
	}
}
