package wasmtest_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
	"github.com/rapidbyte/rapidbyte/worker/wasmtest"
)

func TestConformanceUnderWasm(t *testing.T) {
	h := open(t, "test-generator")
	stream := abi.StreamSpec{Name: "generated", Limits: abi.Limits{MaxBatchRows: 300}}
	sdktest.RunSource(t, h, sdktest.SourceSuite{
		Config:    json.RawMessage(`{"rows": 10}`),
		BadConfig: json.RawMessage(`{"rows": "ten"}`),
		Cases: []sdktest.SourceCase{
			{Name: "all columns", Config: json.RawMessage(`{"rows": 1000, "checkpoint_every": 2}`), Stream: stream, WantRows: 1000},
			{Name: "resume", Config: json.RawMessage(`{"rows": 100}`), Stream: stream, WantRows: 40,
				Resume: &abi.Checkpoint{CursorField: "id", CursorValue: &abi.CursorValue{Int: ptr(int64(59))}}},
			{Name: "negative rows", Config: json.RawMessage(`{"rows": -1}`), Stream: stream, WantErrCategory: abi.CategoryConfig},
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

// open builds the test connector id with the Makefile rule (a no-op when up
// to date) and opens it.
func open(t *testing.T, id string) *wasmtest.Harness {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	path := filepath.Join(root, "dist", "testconnectors", id+".wasm")
	if out, err := exec.Command("make", "-C", root, path).CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", path, err, out)
	}
	cache := os.Getenv("RAPIDBYTE_CACHE_DIR")
	if cache == "" {
		cache = filepath.Join(root, "build", "wazero-cache")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h, err := wasmtest.Open(ctx, path, wasmtest.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	if got := h.Manifest().ID; got != id {
		t.Fatalf("manifest id %q, want %q", got, id)
	}
	return h
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := wasmtest.Open(ctx, filepath.Join(dir, "missing.wasm"), wasmtest.Options{CacheDir: dir}); err == nil {
		t.Error("open of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := wasmtest.Open(ctx, bad, wasmtest.Options{CacheDir: dir}); err == nil {
		t.Error("open of a non-wasm file succeeded")
	}
}
