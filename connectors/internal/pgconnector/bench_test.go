//go:build !wasip1

package pgconnector

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
)

// benchDB returns the config of the database named by
// RAPIDBYTE_PG_BENCH_DB, which holds public.bench_events as made by
// /work/shared/bench/make-data.sh; the benchmark is skipped without it.
func benchDB(b *testing.B) pgclient.Config {
	name := os.Getenv("RAPIDBYTE_PG_BENCH_DB")
	if name == "" {
		b.Skip("set RAPIDBYTE_PG_BENCH_DB to a database holding bench_events")
	}
	cfg := pgtest.AdminConfig(b)
	cfg.Database = name
	return cfg
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSource reads bench_events through source-postgres (native),
// with the default keyset (primary key order) and, for comparison, with
// the table's primary key hidden from the planner (ctid order).
func BenchmarkSource(b *testing.B) {
	cfg := benchDB(b)
	for _, mode := range []string{"keyset-pk", "partition-1of1"} {
		b.Run(mode, func(b *testing.B) {
			spec := abi.StreamSpec{Name: "bench_events", Limits: abi.Limits{CheckpointIntervalBytes: 64 << 20}}
			if mode == "partition-1of1" {
				spec.Partition = &abi.Partition{Index: 0, Count: 1}
			}
			var rows int
			start, cpu := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				f, err := readAll(b, config(b, cfg, nil), spec, nil, 65536, false)
				if err != nil {
					b.Fatal(err)
				}
				rows += f.rows
			}
			b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
			b.ReportMetric((cpuTime()-cpu).Seconds()*1e6/float64(rows), "client-cpu-s/1M-rows")
		})
	}
}

// BenchmarkSourceHarness reads bench_events through the SDK's native
// harness: the real dispatch, host sockets polled through hostnet (as in
// wasm) and frames copied out per batch.
func BenchmarkSourceHarness(b *testing.B) {
	cfg := benchDB(b)
	h := &sdktest.NativeHarness{Connector: sdk.Connector{Source: NewSource()}}
	raw := config(b, cfg, nil).Raw()
	var rows int64
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		res, err := h.Read(context.Background(), sdktest.ReadRequest{Config: raw,
			Stream: abi.StreamSpec{Name: "bench_events", Limits: abi.Limits{CheckpointIntervalBytes: 64 << 20}}})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows()
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric((cpuTime()-cpu).Seconds()*1e6/float64(rows), "client-cpu-s/1M-rows")
}

// BenchmarkDestination writes bench_events (read once up front) through
// dest-postgres (native) into a fresh table per iteration.
func BenchmarkDestination(b *testing.B) {
	cfg := benchDB(b)
	f, err := readAll(b, config(b, cfg, nil), abi.StreamSpec{Name: "bench_events", Limits: abi.Limits{CheckpointIntervalBytes: 64 << 20}}, nil, 65536, true)
	if err != nil {
		b.Fatal(err)
	}
	conn := pgtest.Connect(b, cfg)
	b.ResetTimer()
	var rows int
	var elapsed, cpu time.Duration
	for i := 0; i < b.N; i++ {
		table := fmt.Sprintf("rb_pg_bench_out_%d", i)
		start, c0 := time.Now(), cpuTime()
		spec := abi.StreamSpec{Name: "bench_events", DestinationTable: table, WriteMode: abi.WriteAppend}
		if _, err := writeAll(b, config(b, cfg, map[string]any{"schema": "rb_pg_bench_out"}), spec, f); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - c0
		rows += f.rows
		b.StopTimer()
		if err := pgclient.Exec(context.Background(), conn, "DROP TABLE "+pgsql.Qualified("rb_pg_bench_out", table)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(rows), "client-cpu-s/1M-rows")
}
