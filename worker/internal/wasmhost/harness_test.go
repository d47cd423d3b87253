package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// wasmHarness adapts a Module to sdktest.Harness so the SDK's conformance
// suite runs against the real wasm host.
type wasmHarness struct {
	m *Module
}

var _ sdktest.Harness = wasmHarness{}

func toSDKError(err error) error {
	var e *guest.Error
	if errors.As(err, &e) {
		return &sdk.Error{Envelope: e.Envelope}
	}
	return err
}

func (h wasmHarness) inv(config json.RawMessage, stream *abi.StreamSpec, resume *abi.Checkpoint) guest.Invocation {
	return guest.Invocation{Request: abi.Request{Config: config, Stream: stream, Resume: resume}, Logger: testLogger}
}

func (h wasmHarness) Discover(ctx context.Context, config json.RawMessage) (*abi.Catalog, error) {
	cat, err := h.m.Discover(ctx, h.inv(config, nil, nil))
	return cat, toSDKError(err)
}

func (h wasmHarness) Check(ctx context.Context, config json.RawMessage) error {
	_, err := h.m.Check(ctx, h.inv(config, nil, nil))
	return toSDKError(err)
}

// frameSink turns records into sdktest events (frames re-encoded from the
// Arrow buffers).
type frameSink struct {
	res    sdktest.ReadResult
	schema *batch.Schema
}

func (s *frameSink) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	defer rec.Release()
	if s.schema == nil {
		fields, err := ABIFields(rec.Schema())
		if err != nil {
			return err
		}
		if s.schema, err = batch.NewSchema(fields); err != nil {
			return err
		}
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventSchema, Schema: fields})
	}
	if rec.NumRows() > 0 {
		nodes, bufs, err := recordLayout(rec, s.schema, nil, nil)
		if err != nil {
			return err
		}
		frame := batch.EncodeFrame(nil, int(rec.NumRows()), nodes, bufs, nil)
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventBatch, Frame: frame, Rows: int(rec.NumRows())})
	}
	if cp != nil {
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventCheckpoint, Checkpoint: cp})
	}
	return nil
}

func (h wasmHarness) Read(ctx context.Context, req sdktest.ReadRequest) (*sdktest.ReadResult, error) {
	stream := req.Stream
	sink := &frameSink{}
	_, err := h.m.Read(ctx, h.inv(req.Config, &stream, req.Resume), sink)
	return &sink.res, toSDKError(err)
}

// frameSource replays sdktest batches as arrow records.
type frameSource struct {
	as      *arrow.Schema
	bs      *batch.Schema
	batches []sdktest.Batch
	next    int
	rows    []uint64 // cumulative rows per batch
}

func (s *frameSource) Next(context.Context) (arrow.RecordBatch, *abi.Checkpoint, error) {
	if s.next >= len(s.batches) {
		return nil, nil, io.EOF
	}
	b := s.batches[s.next]
	s.next++
	rows, nodes, bufs, _, err := batch.ParseFrame(b.Frame, s.bs, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := batch.Validate(s.bs, rows, nodes, bufs); err != nil {
		return nil, nil, err
	}
	rec, err := buildRecord(s.as, s.bs, rows, nodes, bufs, nil, nil)
	return rec, b.Checkpoint, err
}

func (h wasmHarness) Write(ctx context.Context, req sdktest.WriteRequest) (*sdktest.WriteResult, error) {
	src := &frameSource{batches: req.Batches}
	if req.Schema != nil {
		var err error
		if src.bs, err = batch.NewSchema(req.Schema); err != nil {
			return nil, err
		}
		if src.as, err = ArrowSchema(src.bs); err != nil {
			return nil, err
		}
		total := uint64(0)
		for _, b := range req.Batches {
			rows, _, _, _, err := batch.ParseFrame(b.Frame, src.bs, nil, nil)
			if err != nil {
				return nil, err
			}
			total += uint64(rows)
			src.rows = append(src.rows, total)
		}
	}
	res := &sdktest.WriteResult{}
	stream := req.Stream
	_, err := h.m.Write(ctx, h.inv(req.Config, &stream, nil), src, func(cp *abi.Checkpoint, records, _, _ uint64) error {
		n := 0
		for n < len(src.rows) && src.rows[n] <= records {
			n++
		}
		res.Commits = append(res.Commits, sdktest.Commit{Batches: n, Records: records, Checkpoint: cp})
		return nil
	})
	res.Delivered = src.next
	return res, toSDKError(err)
}

func TestConformanceUnderWasm(t *testing.T) {
	h := wasmHarness{m: loadModule(t, "test-generator")}
	stream := abi.StreamSpec{Name: "generated", Limits: abi.Limits{MaxBatchRows: 300}}
	sdktest.RunSource(t, h, sdktest.SourceSuite{
		Config:    json.RawMessage(`{"rows": 10}`),
		BadConfig: json.RawMessage(`{"rows": "ten"}`),
		Cases: []sdktest.SourceCase{
			{Name: "all columns", Config: json.RawMessage(`{"rows": 1000, "checkpoint_every": 2}`), Stream: stream, WantRows: 1000},
			{Name: "resume", Config: json.RawMessage(`{"rows": 100}`), Stream: stream, WantRows: 40,
				Resume: &abi.Checkpoint{CursorField: "id", CursorValue: &abi.CursorValue{Int: ptr(int64(59))}}},
		},
	})
	read, err := h.Read(context.Background(), sdktest.ReadRequest{Config: json.RawMessage(`{"rows": 700, "batch_rows": 100}`), Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	batches := read.Batches()
	for i := range batches {
		batches[i].Checkpoint.ID = uint64(i + 1)
	}
	sdktest.RunDestination(t, h, sdktest.DestinationSuite{
		Config:    json.RawMessage(`{}`),
		BadConfig: json.RawMessage(`{"commit_every": -1}`),
		Cases: []sdktest.DestinationCase{
			{Name: "verified", Write: sdktest.WriteRequest{Config: json.RawMessage(`{"expect_rows": 700, "commit_every": 3}`), Stream: stream, Schema: read.Schema(), Batches: batches}},
			{Name: "wrong row count", Write: sdktest.WriteRequest{Config: json.RawMessage(`{"expect_rows": 1}`), Stream: stream, Schema: read.Schema(), Batches: batches},
				WantErrCategory: abi.CategoryData},
			{Name: "empty stream", Write: sdktest.WriteRequest{Config: json.RawMessage(`{}`), Stream: stream}},
		},
	})
}

func ptr[T any](v T) *T { return &v }
