package dest

import (
	"context"
	"fmt"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// BenchmarkBadRowIsolation writes 100,000 rows in batches of 10,000 (and
// one batch of 10,000 rows alone) into a table with a CHECK constraint:
// clean, and with one row (of batch 5) that violates it (on_data_error skip: that batch's COPY fails, rolls back to
// its savepoint and is retried around the row the error names). The
// fail_clean case is the same clean load without savepoints.
//
//	go -C connectors test -run '^$' -bench BadRowIsolation -benchtime 5x ./internal/dest/
func BenchmarkBadRowIsolation(b *testing.B) {
	const batch = 10_000
	src := pgtest.Connect(b, pgtest.NewDB(b))
	dst := pgtest.Connect(b, pgtest.NewDB(b))
	pgtest.Exec(b, dst, `CREATE TABLE t (id bigint, name text, qty int CHECK (qty >= 0), note text)`)
	for _, rows := range []int{100_000, batch} {
		pgtest.Exec(b, src, fmt.Sprintf(`DROP TABLE IF EXISTS clean, one_bad;
CREATE TABLE clean (id bigint, name text, qty int, note text);
INSERT INTO clean SELECT i, 'name-' || i, i, repeat('x', 40) FROM generate_series(1, %d) i;
CREATE TABLE one_bad AS SELECT id, name, CASE WHEN id = %d THEN -1 ELSE qty END AS qty, note FROM clean`, rows, rows*9/20))
		for _, tc := range []struct{ name, table, policy string }{
			{"fail_clean", "clean", OnErrorFail},
			{"skip_clean", "clean", OnErrorSkip},
			{"skip_one_bad", "one_bad", OnErrorSkip},
			{"dlq_one_bad", "one_bad", OnErrorDLQ},
		} {
			benchWrite(b, fmt.Sprintf("%d_rows/%s", rows, tc.name), dst, readStream(b, src, abi.StreamSpec{Name: tc.table}, nil, batch), rows, tc.policy)
		}
	}
}

func benchWrite(b *testing.B, name string, dst *pgclient.Conn, rec *recorded, rows int, policy string) {
	b.Run(name, func(b *testing.B) {
		var failed uint64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pgtest.Exec(b, dst, "TRUNCATE t")
			b.StartTimer()
			st, err := Write(context.Background(), dst, Request{Stream: abi.StreamSpec{Name: "t", OnDataError: policy},
				Fields: rec.fields}, &input{r: rec})
			if err != nil {
				b.Fatal(err)
			}
			failed = st.Failed
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(failed), "failed")
	})
}
