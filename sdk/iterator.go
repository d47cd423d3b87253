package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// iterator implements BatchIterator over next_batch.
type iterator struct {
	s      *session
	schema *batch.Schema
	buf    []byte
	view   *batch.View
	latest *abi.Checkpoint
	eof    bool
}

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
		it.view = batch.NewView(schema)
	}
	return it, req, nil
}

func (it *iterator) Schema() *batch.Schema { return it.schema }

func (it *iterator) Checkpoint() *abi.Checkpoint { return it.latest }

func (it *iterator) Next(ctx context.Context) (*batch.View, error) {
	if it.eof {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, CancelledError(err)
	}
	if it.buf == nil {
		it.buf = make([]byte, initialFrameBuf)
	}
	var n int
	for {
		rc := it.s.h.NextBatch(it.buf[:cap(it.buf)])
		if rc < 0 {
			return nil, hostError("next_batch", rc)
		}
		n = int(rc)
		if n <= cap(it.buf) {
			break
		}
		it.buf = make([]byte, n+n/4)
	}
	if n == 0 {
		it.eof = true
		return nil, io.EOF
	}
	if it.schema == nil {
		return nil, InternalError(fmt.Errorf("next_batch returned a frame for a write without a schema"), WithCode("no_schema"))
	}
	if err := it.view.Parse(it.buf[:n]); err != nil {
		return nil, InternalError(fmt.Errorf("parse frame from host: %w", err), WithCode("bad_frame"))
	}
	if meta := it.view.Meta(); len(meta) > 0 {
		var cp abi.Checkpoint
		if err := json.Unmarshal(meta, &cp); err != nil {
			return nil, InternalError(fmt.Errorf("decode frame checkpoint: %w", err), WithCode("bad_frame"))
		}
		it.latest = &cp
	}
	return it.view, nil
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
