package dest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// WatermarkTable is the per-schema table recording, in the same
// transaction as the data, the position (checkpoint) up to which a
// pipeline's stream (partition) is committed, and by which run. A retried
// attempt or a later run whose source would resume before that position is
// refused with a ResumeAheadError naming it, so the source resumes after
// it: rows are skipped by position, never by count.
const WatermarkTable = "_rapidbyte_watermarks"

// watermark is one row of WatermarkTable.
type watermark struct {
	found     bool
	runID     string
	records   uint64
	completed bool
	cp        *abi.Checkpoint
}

type wmKey struct {
	schema, pipeline, stream string
	partition                uint32
}

func (k wmKey) table() string { return pgsql.Qualified(k.schema, WatermarkTable) }

// ensureWatermarkTable creates the schema and the watermark table.
func ensureWatermarkTable(ctx context.Context, conn *pgclient.Conn, schema string) error {
	sql := fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (
  pipeline          text        NOT NULL,
  stream            text        NOT NULL,
  "partition"       integer     NOT NULL,
  run_id            text        NOT NULL,
  records_committed bigint      NOT NULL,
  completed         boolean     NOT NULL DEFAULT false,
  checkpoint        jsonb,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, stream, "partition"))`, pgsql.Ident(schema), pgsql.Qualified(schema, WatermarkTable))
	if err := ddl(ctx, conn, schema, sql); err != nil {
		return fmt.Errorf("create watermark table: %w", err)
	}
	return nil
}

// readWatermark returns the watermark row of k.
func readWatermark(ctx context.Context, conn *pgclient.Conn, k wmKey) (watermark, error) {
	rows, err := pgclient.Query(ctx, conn, fmt.Sprintf(
		`SELECT run_id, records_committed, completed, checkpoint FROM %s WHERE pipeline = $1 AND stream = $2 AND "partition" = $3`, k.table()),
		[]byte(k.pipeline), []byte(k.stream), []byte(strconv.FormatUint(uint64(k.partition), 10)))
	if err != nil {
		return watermark{}, fmt.Errorf("read watermark: %w", err)
	}
	if len(rows) == 0 {
		return watermark{}, nil
	}
	n, err := strconv.ParseUint(string(rows[0][1]), 10, 64)
	if err != nil {
		return watermark{}, fmt.Errorf("read watermark: bad records_committed %q", rows[0][1])
	}
	wm := watermark{found: true, runID: string(rows[0][0]), records: n, completed: string(rows[0][2]) == "t"}
	if rows[0][3] != nil {
		wm.cp = new(abi.Checkpoint)
		if err := json.Unmarshal(rows[0][3], wm.cp); err != nil {
			return watermark{}, fmt.Errorf("read watermark: bad checkpoint: %w", err)
		}
	}
	return wm, nil
}

// writeWatermark upserts the watermark of k inside the caller's transaction.
func writeWatermark(ctx context.Context, conn *pgclient.Conn, k wmKey, runID string, records uint64, completed bool, cp *abi.Checkpoint) error {
	var cpJSON []byte
	if cp != nil {
		var err error
		if cpJSON, err = json.Marshal(cp); err != nil {
			return fmt.Errorf("encode checkpoint: %w", err)
		}
	}
	done := "false"
	if completed {
		done = "true"
	}
	_, err := pgclient.Query(ctx, conn, fmt.Sprintf(`INSERT INTO %s AS w (pipeline, stream, "partition", run_id, records_committed, completed, checkpoint, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (pipeline, stream, "partition") DO UPDATE
SET run_id = EXCLUDED.run_id, records_committed = EXCLUDED.records_committed, completed = EXCLUDED.completed,
    checkpoint = EXCLUDED.checkpoint, updated_at = now()`, k.table()),
		[]byte(k.pipeline), []byte(k.stream), []byte(strconv.FormatUint(uint64(k.partition), 10)), []byte(runID),
		[]byte(strconv.FormatUint(records, 10)), []byte(done), cpJSON)
	if err != nil {
		return fmt.Errorf("write watermark: %w", err)
	}
	return nil
}

// samePosition reports whether a and b name the same position of a stream
// (cursor and tie-breaker fields and values; counts are ignored).
func samePosition(a, b *abi.Checkpoint) bool {
	pos := func(c *abi.Checkpoint) string {
		if c == nil {
			return "null"
		}
		j, _ := json.Marshal([]any{c.CursorField, c.CursorValue, c.TieBreakerField, c.TieBreakerValue})
		return string(j)
	}
	return pos(a) == pos(b)
}
