package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// PutStreamResult inserts or replaces the result of one stream partition.
func (s *DB) PutStreamResult(ctx context.Context, r StreamResult) error {
	errText, err := errJSON(r.Error)
	if err != nil {
		return fmt.Errorf("put result of stream %q: %w", r.Stream, err)
	}
	var cp sql.NullString
	if r.Checkpoint != nil {
		b, err := json.Marshal(r.Checkpoint)
		if err != nil {
			return fmt.Errorf("put result of stream %q: encode checkpoint: %w", r.Stream, err)
		}
		cp = sql.NullString{String: string(b), Valid: true}
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO stream_results (run_id, stream, partition_index, state,
records_read, records_written, bytes_read, bytes_written, attempts, duration_secs, error, checkpoint,
source_worker, dest_worker, updated_at, records_failed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, stream, partition_index) DO UPDATE SET state = excluded.state,
records_read = excluded.records_read, records_written = excluded.records_written,
bytes_read = excluded.bytes_read, bytes_written = excluded.bytes_written, attempts = excluded.attempts,
duration_secs = excluded.duration_secs, error = excluded.error, checkpoint = excluded.checkpoint,
source_worker = excluded.source_worker, dest_worker = excluded.dest_worker, updated_at = excluded.updated_at,
records_failed = excluded.records_failed`),
		r.RunID, r.Stream, int64(r.Partition), string(r.State), u64(r.RecordsRead), u64(r.RecordsWritten),
		u64(r.BytesRead), u64(r.BytesWritten), r.Attempts, r.DurationSecs, errText, cp,
		r.SourceWorker, r.DestWorker, micros(s.clock()), u64(r.RecordsFailed))
	if classify(err) == foreignKeyViolation {
		return fmt.Errorf("put result of stream %q: run %q: %w", r.Stream, r.RunID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put result of stream %q of run %q: %w", r.Stream, r.RunID, err)
	}
	return nil
}

// ListStreamResults returns a run's stream results by stream and partition.
func (s *DB) ListStreamResults(ctx context.Context, runID string) ([]StreamResult, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT run_id, stream, partition_index, state, records_read,
records_written, bytes_read, bytes_written, attempts, duration_secs, error, checkpoint, source_worker, dest_worker,
records_failed FROM stream_results WHERE run_id = ? ORDER BY stream, partition_index`), runID)
	if err != nil {
		return nil, fmt.Errorf("list stream results of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []StreamResult
	for rows.Next() {
		var (
			r                                    StreamResult
			part                                 int64
			state                                string
			recRead, recWritten, bRead, bWritten int64
			recFailed                            int64
			errText, cp                          sql.NullString
		)
		if err := rows.Scan(&r.RunID, &r.Stream, &part, &state, &recRead, &recWritten, &bRead, &bWritten,
			&r.Attempts, &r.DurationSecs, &errText, &cp, &r.SourceWorker, &r.DestWorker, &recFailed); err != nil {
			return nil, fmt.Errorf("list stream results of run %q: %w", runID, err)
		}
		r.Partition, r.State, r.RecordsFailed = uint32(part), RunState(state), toU64(recFailed)
		r.RecordsRead, r.RecordsWritten, r.BytesRead, r.BytesWritten = toU64(recRead), toU64(recWritten), toU64(bRead), toU64(bWritten)
		if r.Error, err = parseErrJSON(errText); err != nil {
			return nil, fmt.Errorf("stream %q of run %q: %w", r.Stream, runID, err)
		}
		if cp.Valid {
			r.Checkpoint = new(Checkpoint)
			if err := json.Unmarshal([]byte(cp.String), r.Checkpoint); err != nil {
				return nil, fmt.Errorf("stream %q of run %q: decode checkpoint: %w", r.Stream, runID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stream results of run %q: %w", runID, err)
	}
	return out, nil
}
