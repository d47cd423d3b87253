package source

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
)

// BenchmarkTransport compares streaming one extended-protocol result with a
// server-side cursor read by FETCH, both in binary format, on bench_events
// of the database named by RAPIDBYTE_PG_BENCH_DB (skipped without it).
func BenchmarkTransport(b *testing.B) {
	name := os.Getenv("RAPIDBYTE_PG_BENCH_DB")
	if name == "" {
		b.Skip("set RAPIDBYTE_PG_BENCH_DB to a database holding bench_events")
	}
	cfg := pgtest.AdminConfig(b)
	cfg.Database = name
	conn := pgtest.Connect(b, cfg)
	ctx := context.Background()
	const q = "SELECT * FROM public.bench_events ORDER BY id"
	formats := []int16{1}
	count := func(sql string) (int, error) {
		n := 0
		err := conn.StreamRows(ctx, pgclient.Statement{SQL: sql, ResultFormats: formats}, func(rows [][]byte) error {
			n += len(rows)
			return nil
		})
		return n, err
	}
	b.Run("one-result", func(b *testing.B) {
		rows, start := 0, time.Now()
		for i := 0; i < b.N; i++ {
			n, err := count(q)
			if err != nil {
				b.Fatal(err)
			}
			rows += n
		}
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	})
	for _, fetch := range []int{10000, 65536} {
		b.Run(fmt.Sprintf("fetch-%d", fetch), func(b *testing.B) {
			rows, start := 0, time.Now()
			for i := 0; i < b.N; i++ {
				if err := pgclient.Exec(ctx, conn, "BEGIN; DECLARE c NO SCROLL CURSOR FOR "+q); err != nil {
					b.Fatal(err)
				}
				for {
					n, err := count(fmt.Sprintf("FETCH %d FROM c", fetch))
					if err != nil {
						b.Fatal(err)
					}
					rows += n
					if n < fetch {
						break
					}
				}
				if err := pgclient.Exec(ctx, conn, "COMMIT"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
