package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// emitter implements Emitter over the session's host.
type emitter struct {
	s   *session
	req ReadRequest
	b   *batch.Builder
}

var _ Emitter = (*emitter)(nil)

func newEmitter(s *session) *emitter {
	req := ReadRequest{Stream: *s.req.Stream, Resume: s.req.Resume}
	req.MaxBatchRows = int(s.req.Stream.Limits.MaxBatchRows)
	if req.MaxBatchRows <= 0 {
		req.MaxBatchRows = abi.DefaultMaxBatchRows
	}
	req.MaxBatchBytes = int(min(s.req.Stream.Limits.MaxBatchBytes, 1<<30))
	if req.MaxBatchBytes <= 0 {
		req.MaxBatchBytes = abi.DefaultMaxBatchBytes
	}
	return &emitter{s: s, req: req}
}

func (e *emitter) Schema(fields []abi.Field) (*batch.Builder, error) {
	if e.b != nil {
		return nil, InternalError(fmt.Errorf("emitter: schema already declared"), WithCode("schema_twice"))
	}
	schema, err := batch.NewSchema(fields)
	if err != nil {
		return nil, SchemaError(fmt.Errorf("declare schema: %w", err), WithCode("bad_schema"))
	}
	b, err := json.Marshal(abi.SchemaEnvelope{Fields: fields})
	if err != nil {
		return nil, InternalError(fmt.Errorf("encode schema: %w", err))
	}
	if rc := e.s.h.EmitSchema(b); rc < 0 {
		return nil, hostError("emit_schema", rc)
	}
	e.b, err = batch.NewBuilder(schema, e.req.MaxBatchRows, e.req.MaxBatchBytes)
	if err != nil {
		return nil, SchemaError(err)
	}
	return e.b, nil
}

func (e *emitter) Emit(b *batch.Builder) error {
	if b == nil || b != e.b {
		return InternalError(fmt.Errorf("emitter: Emit of a builder not returned by Schema"), WithCode("foreign_builder"))
	}
	if b.Rows() == 0 {
		return nil
	}
	var rc int32
	err := b.Layout(func(rows int, nodes []batch.Node, bufs [][]byte) {
		rc = e.s.h.EmitBatch(rows, nodes, bufs)
	})
	if err != nil {
		return InternalError(fmt.Errorf("emit batch: %w", err), WithCode("ragged_batch"))
	}
	b.Reset()
	if rc < 0 {
		return hostError("emit_batch", rc)
	}
	return nil
}

func (e *emitter) Checkpoint(cp abi.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return InternalError(fmt.Errorf("encode checkpoint: %w", err))
	}
	if rc := e.s.h.Checkpoint(b); rc < 0 {
		return hostError("checkpoint", rc)
	}
	return nil
}
