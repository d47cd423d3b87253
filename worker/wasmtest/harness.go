// Package wasmtest runs a connector module under the worker's real wasm
// host for tests and tools: Open loads a .wasm file and returns a Harness
// that the sdk's conformance suite (sdk/sdktest) runs against, as
// `rapidbyte connector test` does. It exists so code outside the worker
// module reaches the host without its internal packages.
package wasmtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// Harness is one connector module loaded in its own wasm runtime; it
// implements sdktest.Harness: each call runs one instance (open, the
// operation, close) with the worker's host imports, under the module's
// network allow-list (hosts in the config and the manifest's
// allowed_hosts). Close releases it.
type Harness struct {
	m      *wasmhost.Module
	rt     *wasmhost.Runtime
	logger hclog.Logger
}

var _ sdktest.Harness = (*Harness)(nil)

// Options configures Open. The zero value uses the defaults.
type Options struct {
	// CacheDir is the compilation cache directory (default: the worker's,
	// os.UserCacheDir()/rapidbyte/wazero).
	CacheDir string
	// Logger receives guest logs and runtime events (default: none).
	Logger hclog.Logger
}

// Open loads the module at path (reading its embedded manifest and
// checking its ABI version, as a worker does) in a new runtime.
func Open(ctx context.Context, path string, opts Options) (*Harness, error) {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	rt, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: opts.CacheDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	m, err := rt.LoadFile(ctx, path)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	if err := m.Verify(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return &Harness{m: m, rt: rt, logger: logger}, nil
}

// Manifest returns the module's manifest.
func (h *Harness) Manifest() abi.Manifest { return h.m.Manifest() }

// Close releases the runtime.
func (h *Harness) Close(ctx context.Context) error { return h.rt.Close(ctx) }

// toSDKError turns a guest error into the *sdk.Error the suite classifies.
func toSDKError(err error) error {
	var e *guest.Error
	if errors.As(err, &e) {
		return &sdk.Error{Envelope: e.Envelope}
	}
	return err
}

func (h *Harness) inv(config json.RawMessage, stream *abi.StreamSpec, resume *abi.Checkpoint) guest.Invocation {
	return guest.Invocation{Request: abi.Request{Config: config, Stream: stream, Resume: resume}, Logger: h.logger}
}

// Discover runs discover with config.
func (h *Harness) Discover(ctx context.Context, config json.RawMessage) (*abi.Catalog, error) {
	cat, err := h.m.Discover(ctx, h.inv(config, nil, nil))
	return cat, toSDKError(err)
}

// Check runs check with config.
func (h *Harness) Check(ctx context.Context, config json.RawMessage) error {
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
		fields, err := wasmhost.ABIFields(rec.Schema())
		if err != nil {
			return err
		}
		if s.schema, err = batch.NewSchema(fields); err != nil {
			return err
		}
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventSchema, Schema: fields})
	}
	if rec.NumRows() > 0 {
		frame, err := wasmhost.EncodeFrame(rec, s.schema)
		if err != nil {
			return err
		}
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventBatch, Frame: frame, Rows: int(rec.NumRows())})
	}
	if cp != nil {
		s.res.Events = append(s.res.Events, sdktest.Event{Kind: sdktest.EventCheckpoint, Checkpoint: cp})
	}
	return nil
}

// Read runs a read and collects its schema, batches (re-encoded as
// frames) and checkpoints.
func (h *Harness) Read(ctx context.Context, req sdktest.ReadRequest) (*sdktest.ReadResult, error) {
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
	rec, err := wasmhost.DecodeFrame(b.Frame, s.as, s.bs)
	return rec, b.Checkpoint, err
}

// Write replays req's batches into a write and records its commits.
func (h *Harness) Write(ctx context.Context, req sdktest.WriteRequest) (*sdktest.WriteResult, error) {
	src := &frameSource{batches: req.Batches}
	if req.Schema != nil {
		var err error
		if src.bs, err = batch.NewSchema(req.Schema); err != nil {
			return nil, err
		}
		if src.as, err = wasmhost.ArrowSchema(src.bs); err != nil {
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
