package wasmhost

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// BenchmarkLoadWarm measures a module load from the warm on-disk
// compilation cache in a fresh runtime (what a worker pays at start).
func BenchmarkLoadWarm(b *testing.B) {
	ctx := context.Background()
	loadModule(b, "test-generator") // make sure the cache is warm
	for b.Loop() {
		rt, err := New(ctx, Config{CacheDir: cacheDir(), Logger: testLogger})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.LoadFile(ctx, wasmPath("test-generator")); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
}

// BenchmarkInstanceStart measures instantiate + _initialize + close.
func BenchmarkInstanceStart(b *testing.B) {
	m := loadModule(b, "test-generator")
	ctx := context.Background()
	for b.Loop() {
		in, err := m.newInstance(ctx, "bench", Invocation{Logger: testLogger})
		if err != nil {
			b.Fatal(err)
		}
		in.close(ctx)
	}
}

type countSink struct{ rows, bytes int64 }

func (s *countSink) Batch(rec arrow.RecordBatch, _ *abi.Checkpoint) error {
	s.rows += rec.NumRows()
	rec.Release()
	return nil
}

// BenchmarkGeneratorRead measures a full Read of the generator through the
// host (guest appends, emit_batch copy, validation, arrow records) for the
// 6-column bench schema, 65536-row batches.
func BenchmarkGeneratorRead(b *testing.B) {
	m := loadModule(b, "test-generator")
	const rows = 500_000
	cfg := map[string]any{"rows": rows, "columns": []string{"name", "qty", "score", "created_at", "active"}, "checkpoint_every": 4}
	var bytes uint64
	for b.Loop() {
		sink := &countSink{}
		st, err := m.Read(context.Background(), readInvocation(b, cfg), sink)
		if err != nil {
			b.Fatal(err)
		}
		if sink.rows != rows {
			b.Fatalf("rows %d", sink.rows)
		}
		bytes += st.Bytes
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*rows/sec, "rows/s")
	b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
}
