package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestIntegrationCarelessSourceIsContained reads the real test-careless
// module, which ignores the stream's projection and batch limits (and its
// name, sync mode and partition) and emits every row in one batch, and
// writes it into PostgreSQL with the real dest-postgres: the worker splits
// the batch within the stream's limits and drops the columns the stream
// did not ask for, so neither reaches the destination.
func TestIntegrationCarelessSourceIsContained(t *testing.T) {
	distModule(t, "test-careless")
	distModule(t, "dest-postgres")
	db, conf := testDatabase(t, 1)
	addr := startRealWorker(t, "test-careless", "dest-postgres")
	conn := dialAddr(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const rows = 100_000

	cases := []struct {
		name     string
		columns  []string
		limits   *rbv1.Limits
		wantCols []string
	}{
		{name: "projection and max_batch_rows", columns: []string{"n"}, limits: &rbv1.Limits{MaxBatchRows: 1000}, wantCols: []string{"n"}},
		{name: "max_batch_bytes", limits: &rbv1.Limits{MaxBatchBytes: 64 << 10}, wantCols: []string{"n", "label", "extra"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := []string{"careless_rows", "careless_bytes"}[i]
			read := &rbv1.ReadTicket{
				RunId: "it-careless", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "test-careless"},
				Config: mustStruct(t, map[string]any{"count": rows}),
				Stream: &rbv1.StreamSpec{Name: "numbers", SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH, Columns: tc.columns, Limits: tc.limits},
			}
			write := &rbv1.WriteTicket{
				RunId: "it-careless", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "dest-postgres"}, Config: mustStruct(t, conf),
				Stream: &rbv1.StreamSpec{Name: "numbers", DestinationTable: table, Pipeline: "it", WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND},
			}
			res, err := relay(ctx, conn, read, write)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rows in %d batches", res.records, len(res.batches))
			if res.records != rows {
				t.Fatalf("read %d records, want %d", res.records, rows)
			}
			for j, b := range res.batches {
				if max := tc.limits.GetMaxBatchRows(); max > 0 && b.GetRecords() > uint64(max) {
					t.Errorf("batch %d has %d rows, over max_batch_rows %d", j, b.GetRecords(), max)
				}
				if max := tc.limits.GetMaxBatchBytes(); max > 0 && b.GetBytes() > max {
					t.Errorf("batch %d is %d bytes, over max_batch_bytes %d", j, b.GetBytes(), max)
				}
			}
			if len(res.batches) < 2 {
				t.Errorf("the one giant batch was passed on as %d batch(es)", len(res.batches))
			}
			if tc.limits.GetMaxBatchRows() == 1000 && len(res.batches) != rows/1000 {
				t.Errorf("%d batches, want %d", len(res.batches), rows/1000)
			}
			q, err := db.Query(ctx,
				"SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND column_name NOT LIKE '\\_rb%' ORDER BY ordinal_position", table)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := pgx.CollectRows(q, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cols, tc.wantCols) {
				t.Errorf("destination columns %v, want %v", cols, tc.wantCols)
			}
			var n, sum int64
			if err := db.QueryRow(ctx, "SELECT count(*), sum(n) FROM "+table).Scan(&n, &sum); err != nil {
				t.Fatal(err)
			}
			if n != rows || sum != rows*(rows-1)/2 {
				t.Errorf("destination has %d rows summing to %d, want %d and %d", n, sum, rows, rows*(rows-1)/2)
			}
		})
	}
}
