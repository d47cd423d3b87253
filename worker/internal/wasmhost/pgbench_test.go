package wasmhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// pgBenchConfig returns the connector config of the database named by
// RAPIDBYTE_PG_BENCH_DB (holding public.bench_events, see bench/) on
// 127.0.0.1 at RAPIDBYTE_PG_PORT (default 5432), or skips the benchmark.
func pgBenchConfig(b *testing.B, extra map[string]any) map[string]any {
	db := os.Getenv("RAPIDBYTE_PG_BENCH_DB")
	if db == "" {
		b.Skip("set RAPIDBYTE_PG_BENCH_DB to a database holding bench_events")
	}
	port := 5432
	if p, err := strconv.Atoi(os.Getenv("RAPIDBYTE_PG_PORT")); err == nil {
		port = p
	}
	cfg := map[string]any{"host": "127.0.0.1", "port": port, "user": "postgres", "database": db, "schema": "public"}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// loadConnector loads <id>.wasm from RAPIDBYTE_CONNECTORS_DIR (default
// dist/connectors, so an A/B run can point at another build) into a runtime
// with cfg.
func loadConnector(b *testing.B, id string, cfg Config) *Module {
	b.Helper()
	ctx := context.Background()
	pctx, report := profiledContext(ctx)
	if pctx != ctx {
		cfg.CacheDir = b.TempDir() // listener-instrumented code must not be cached
		b.Cleanup(report)
	}
	rt, err := New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(ctx) })
	dir := os.Getenv("RAPIDBYTE_CONNECTORS_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot, "dist", "connectors")
	}
	m, err := rt.LoadFile(pctx, filepath.Join(dir, id+".wasm"))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func pgReadInvocation(b *testing.B) guest.Invocation {
	return guest.Invocation{
		Request: abi.Request{
			Config: rawJSON(b, pgBenchConfig(b, nil)),
			Stream: &abi.StreamSpec{Name: "bench_events", SyncMode: abi.SyncFullRefresh,
				Limits: abi.Limits{MaxBatchRows: abi.DefaultMaxBatchRows, MaxBatchBytes: abi.DefaultMaxBatchBytes, CheckpointIntervalBytes: 64 << 20}},
		},
		Timeout: 5 * time.Minute,
		Logger:  testLogger,
	}
}

// BenchmarkPostgresRead reads bench_events through the source-postgres
// module into a counting sink: guest decode, emit_batch and host records.
func BenchmarkPostgresRead(b *testing.B) {
	m := loadConnector(b, "source-postgres", Config{CacheDir: cacheDir(), Logger: testLogger, FixedMemory: true})
	inv := pgReadInvocation(b)
	var rows int64
	cpu0 := cpuTime()
	for b.Loop() {
		sink := &countSink{}
		if _, err := m.Read(context.Background(), inv, sink); err != nil {
			b.Fatal(err)
		}
		rows += sink.rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkPostgresWrite writes bench_events (read once up front) through
// the dest-postgres module into a fresh table per iteration.
func BenchmarkPostgresWrite(b *testing.B) {
	src := loadConnector(b, "source-postgres", Config{CacheDir: cacheDir(), Logger: testLogger, FixedMemory: true})
	sink := &collectSink{}
	defer sink.release()
	if _, err := src.Read(context.Background(), pgReadInvocation(b), sink); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, r := range sink.recs {
		total += r.NumRows()
	}
	m := loadConnector(b, "dest-postgres", Config{CacheDir: cacheDir(), Logger: testLogger, FixedMemory: true})
	var rows int64
	var cpu time.Duration
	i := 0
	for b.Loop() {
		i++
		inv := pgReadInvocation(b)
		inv.Request.Config = rawJSON(b, pgBenchConfig(b, map[string]any{"schema": "rb_wasm_bench_out"}))
		inv.Request.Stream.DestinationTable = fmt.Sprintf("out_%d", i)
		inv.Request.Stream.WriteMode = abi.WriteAppend
		c0 := cpuTime()
		st, err := m.Write(context.Background(), inv, &sliceSource{recs: sink.recs, cps: sink.cps}, nil)
		if err != nil || int64(st.Records) != total {
			b.Fatalf("write: %v %+v", err, st)
		}
		cpu += cpuTime() - c0
		rows += total
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(cpu.Seconds()/(float64(rows)/1e6), "cpu-s/Mrows")
}
