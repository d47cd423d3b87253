// Package conformance runs the sdk's conformance suite (sdk/sdktest) on a
// connector module under the worker's wasm host, outside go test: the
// suite `rapidbyte connector test` prints.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
	"github.com/rapidbyte/rapidbyte/worker/wasmtest"
)

// Options says what to run.
type Options struct {
	// Module is the .wasm file.
	Module string
	// Config is the connector's config.
	Config json.RawMessage
	// BadConfig, when set, must fail check (and a source's discover) with a
	// config error.
	BadConfig json.RawMessage
	// CacheDir is the compilation cache (default: the worker's).
	CacheDir string
	// Logger receives guest logs.
	Logger hclog.Logger
	// Out receives one line per check.
	Out io.Writer
}

// Result is what a run found.
type Result struct {
	// Manifest is the module's manifest.
	Manifest abi.Manifest
	// Failed says whether any check failed.
	Failed bool
}

// maxStreams bounds the streams a source's suite reads.
const maxStreams = 5

// Run loads the module and runs the source suite and/or the destination
// suite, by the roles its manifest declares. An error means the module
// could not be loaded or discovered; failed checks are in the Result.
func Run(ctx context.Context, opts Options) (Result, error) {
	h, err := wasmtest.Open(ctx, opts.Module, wasmtest.Options{CacheDir: opts.CacheDir, Logger: opts.Logger})
	if err != nil {
		return Result{}, fmt.Errorf("load %s: %w", opts.Module, err)
	}
	defer h.Close(context.Background())
	m := h.Manifest()
	fmt.Fprintf(opts.Out, "Module %s: %s %s, roles %v\n", opts.Module, m.ID, m.Version, m.Roles)
	report := sdktest.NewReport(opts.Out)
	if m.HasRole(abi.RoleSource) {
		suite, err := sourceSuite(ctx, h, opts)
		if err != nil {
			return Result{Manifest: m}, err
		}
		report.Run("source", func(t sdktest.T) { sdktest.RunSourceT(t, h, suite) })
	}
	if m.HasRole(abi.RoleDestination) {
		suite, err := destinationSuite(m, opts)
		if err != nil {
			return Result{Manifest: m}, err
		}
		report.Run("destination", func(t sdktest.T) { sdktest.RunDestinationT(t, h, suite) })
	}
	return Result{Manifest: m, Failed: report.Failed()}, nil
}

// sourceSuite reads every stream (up to maxStreams) in full, and
// incrementally where the stream offers it with a cursor.
func sourceSuite(ctx context.Context, h *wasmtest.Harness, opts Options) (sdktest.SourceSuite, error) {
	s := sdktest.SourceSuite{Config: opts.Config, BadConfig: opts.BadConfig}
	cat, err := h.Discover(ctx, opts.Config)
	if err != nil {
		return s, fmt.Errorf("discover with the given config: %w", err)
	}
	for i, st := range cat.Streams {
		if i == maxStreams {
			fmt.Fprintf(opts.Out, "Reading the first %d of %d streams\n", maxStreams, len(cat.Streams))
			break
		}
		name := st.Name
		if st.Namespace != "" {
			name = st.Namespace + "." + st.Name
		}
		spec := abi.StreamSpec{Namespace: st.Namespace, Name: st.Name, SyncMode: abi.SyncFullRefresh}
		s.Cases = append(s.Cases, sdktest.SourceCase{Name: name + " full_refresh", Config: opts.Config, Stream: spec, WantRows: -1})
		if slices.Contains(st.SupportedSyncModes, abi.SyncIncremental) && st.DefaultCursorField != "" {
			spec.SyncMode, spec.CursorField = abi.SyncIncremental, st.DefaultCursorField
			s.Cases = append(s.Cases, sdktest.SourceCase{Name: name + " incremental", Config: opts.Config, Stream: spec, WantRows: -1})
		}
	}
	return s, nil
}

// destinationSuite writes a small generated stream (ids 0..99 in two
// batches, each with a checkpoint) and an empty one.
func destinationSuite(m abi.Manifest, opts Options) (sdktest.DestinationSuite, error) {
	s := sdktest.DestinationSuite{Config: opts.Config, BadConfig: opts.BadConfig}
	mode := abi.WriteAppend
	if len(m.WriteModes) > 0 {
		mode = m.WriteModes[0]
	}
	schema := []abi.Field{{Name: "id", Type: "int64"}, {Name: "label", Type: "utf8", Nullable: true}}
	var batches []sdktest.Batch
	for i := range 2 {
		f, err := frame(schema, int64(i*50), 50)
		if err != nil {
			return s, err
		}
		last := int64(i*50 + 49)
		batches = append(batches, sdktest.Batch{Frame: f, Checkpoint: &abi.Checkpoint{ID: uint64(i + 1), Stream: "rapidbyte_conformance",
			CursorField: "id", CursorValue: &abi.CursorValue{Int: &last}, Records: uint64(last + 1)}})
	}
	stream := abi.StreamSpec{Name: "rapidbyte_conformance", SyncMode: abi.SyncFullRefresh, WriteMode: mode, PrimaryKey: []string{"id"}}
	s.Cases = []sdktest.DestinationCase{
		{Name: "100 rows in 2 batches", Write: sdktest.WriteRequest{Config: opts.Config, Stream: stream, Schema: schema, Batches: batches}},
		{Name: "empty stream", Write: sdktest.WriteRequest{Config: opts.Config, Stream: stream}},
	}
	return s, nil
}

// frame encodes n rows (id from first, label "row <id>", every tenth null).
func frame(fields []abi.Field, first int64, n int) ([]byte, error) {
	s, err := batch.NewSchema(fields)
	if err != nil {
		return nil, err
	}
	b, err := batch.NewBuilder(s, n, 1<<20)
	if err != nil {
		return nil, err
	}
	ids, labels := b.Int64(0), b.Utf8(1)
	for id := first; id < first+int64(n); id++ {
		ids.Append(id)
		if id%10 == 9 {
			labels.AppendNull()
		} else {
			labels.AppendString(fmt.Sprintf("row %d", id))
		}
	}
	var out []byte
	err = b.Layout(func(rows int, nodes []batch.Node, bufs [][]byte) {
		out = batch.EncodeFrame(nil, rows, nodes, bufs, nil)
	})
	return out, err
}
