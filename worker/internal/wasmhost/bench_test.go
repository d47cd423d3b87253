package wasmhost

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
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
		in, err := m.newInstance(ctx, "bench", guest.Invocation{Logger: testLogger})
		if err != nil {
			b.Fatal(err)
		}
		in.close(ctx)
	}
}

type countSink struct{ rows int64 }

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
	benchRead(b, m)
}

// BenchmarkGeneratorReadFixedMemory is BenchmarkGeneratorRead with
// Config.FixedMemory (memory capacity reserved up to the 1 GiB limit).
func BenchmarkGeneratorReadFixedMemory(b *testing.B) {
	benchReadWith(b, Config{CacheDir: cacheDir(), Logger: testLogger, FixedMemory: true})
}

// BenchmarkGeneratorReadCloseOnDone is BenchmarkGeneratorRead with
// Config.CloseOnContextDone (termination checks compiled in).
func BenchmarkGeneratorReadCloseOnDone(b *testing.B) {
	benchReadWith(b, Config{CacheDir: cacheDir(), Logger: testLogger, CloseOnContextDone: true})
}

func benchReadWith(b *testing.B, cfg Config) {
	ctx := context.Background()
	rt, err := New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.LoadFile(ctx, wasmPath("test-generator"))
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, m)
}

func benchRead(b *testing.B, m *Module) {
	const rows = 500_000
	cfg := map[string]any{"rows": rows, "columns": []string{"name", "qty", "score", "created_at", "active"}, "checkpoint_every": 4}
	var bytes uint64
	cpu0 := cpuTime()
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
	b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(b.N)*rows/1e6), "cpu-s/Mrows")
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGeneratorWrite measures Write into the generator's verifying
// destination (frame encode in the host, view parse and checks in the guest).
func BenchmarkGeneratorWrite(b *testing.B) {
	m := loadModule(b, "test-generator")
	sink := &collectSink{}
	defer sink.release()
	const rows = 500_000
	cfg := map[string]any{"rows": rows, "columns": []string{"name", "qty", "score", "created_at", "active"}}
	if _, err := m.Read(context.Background(), readInvocation(b, cfg), sink); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	for b.Loop() {
		st, err := m.Write(context.Background(), readInvocation(b, map[string]any{"expect_rows": rows}), &sliceSource{recs: sink.recs, cps: sink.cps}, nil)
		if err != nil || st.Records != rows {
			b.Fatalf("write: %v %+v", err, st)
		}
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(b.N)*rows/1e6), "cpu-s/Mrows")
}
