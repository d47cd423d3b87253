package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// iterator implements BatchIterator over next_batch. It alternates
// between two frame buffers while frames are at most KeepFrameBytes, so
// the batch before the last one stays valid (see BatchIterator.Kept).
type iterator struct {
	s      *session
	schema *batch.Schema
	bufs   [2][]byte
	views  [2]*batch.View
	cur    int // the slot of the batch Next returned last
	kept   bool
	latest *abi.Checkpoint
	eof    bool
}

// KeepFrameBytes is the largest frame of a batch that stays valid through
// the next call to Next (BatchIterator.Kept): two frames of this size fit
// any guest, while two frames near max_batch_bytes (up to half of
// max_memory) might not.
const KeepFrameBytes = 8 << 20

// keepBufBytes is the largest buffer a kept frame stays in.
const keepBufBytes = KeepFrameBytes + KeepFrameBytes/4

var _ BatchIterator = (*iterator)(nil)

const initialFrameBuf = 1 << 20

func newIterator(s *session) (*iterator, WriteRequest, error) {
	it := &iterator{s: s}
	req := WriteRequest{Stream: *s.req.Stream, Resume: s.req.Resume}
	if s.req.Schema != nil {
		schema, err := batch.NewSchema(s.req.Schema.Fields)
		if err != nil {
			return nil, req, SchemaError(fmt.Errorf("write schema: %w", err), WithCode("bad_schema"))
		}
		it.schema, req.Schema = schema, schema
		it.views = [2]*batch.View{batch.NewView(schema), batch.NewView(schema)}
	}
	return it, req, nil
}

func (it *iterator) Schema() *batch.Schema { return it.schema }

func (it *iterator) Checkpoint() *abi.Checkpoint { return it.latest }

func (it *iterator) Kept() bool { return it.kept }

func (it *iterator) Next(ctx context.Context) (*batch.View, error) {
	if it.eof {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, CancelledError(err)
	}
	slot := it.cur
	if it.kept {
		slot = 1 - slot // leave the last batch in place
	}
	buf := it.bufs[slot]
	if buf == nil {
		buf = make([]byte, initialFrameBuf)
	}
	var n int
	for {
		rc := it.s.h.NextBatch(buf[:cap(buf)])
		if rc < 0 {
			return nil, hostError("next_batch", rc)
		}
		n = int(rc)
		if n <= cap(buf) {
			break
		}
		buf = make([]byte, n+n/4)
	}
	if n <= KeepFrameBytes && cap(buf) > keepBufBytes {
		// A small frame in a buffer a large one left: move it to a small
		// buffer, so that at most one buffer is ever larger than
		// keepBufBytes (two frames near max_batch_bytes might not fit).
		buf = append(make([]byte, 0, max(initialFrameBuf, n+n/4)), buf[:n]...)
	}
	it.bufs[slot], it.cur, it.kept = buf, slot, n > 0 && n <= KeepFrameBytes
	if n == 0 {
		it.eof = true
		return nil, io.EOF
	}
	if it.schema == nil {
		return nil, InternalError(fmt.Errorf("next_batch returned a frame for a write without a schema"), WithCode("no_schema"))
	}
	view := it.views[slot]
	if err := view.Parse(buf[:n]); err != nil {
		return nil, InternalError(fmt.Errorf("parse frame from host: %w", err), WithCode("bad_frame"))
	}
	if meta := view.Meta(); len(meta) > 0 {
		var cp abi.Checkpoint
		if err := json.Unmarshal(meta, &cp); err != nil {
			return nil, InternalError(fmt.Errorf("decode frame checkpoint: %w", err), WithCode("bad_frame"))
		}
		it.latest = &cp
	}
	return view, nil
}

func (it *iterator) Commit() error { return it.CommitWith(abi.CommitInfo{}) }

func (it *iterator) CommitWith(info abi.CommitInfo) error {
	var p []byte
	if info != (abi.CommitInfo{}) {
		var err error
		if p, err = json.Marshal(info); err != nil {
			return InternalError(fmt.Errorf("encode commit info: %w", err))
		}
	}
	if rc := it.s.h.Checkpoint(p); rc < 0 {
		return hostError("checkpoint", rc)
	}
	return nil
}

func (it *iterator) ReportCommitted(cp abi.Checkpoint) error {
	b, err := json.Marshal(abi.CommitInfo{Committed: &cp})
	if err != nil {
		return InternalError(fmt.Errorf("encode committed checkpoint: %w", err), WithCode("bad_checkpoint"))
	}
	if rc := it.s.h.Checkpoint(b); rc < 0 {
		return hostError("checkpoint", rc)
	}
	return nil
}
