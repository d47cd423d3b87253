package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// GetCursor returns the stored cursor of one stream partition.
func (s *DB) GetCursor(ctx context.Context, pipeline, stream string, partition uint32) (*Checkpoint, error) {
	var text string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT checkpoint FROM cursors
WHERE pipeline = ? AND stream = ? AND partition_index = ?`), pipeline, stream, int64(partition)).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("cursor of %s.%s[%d]: %w", pipeline, stream, partition, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get cursor of %s.%s[%d]: %w", pipeline, stream, partition, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal([]byte(text), &cp); err != nil {
		return nil, fmt.Errorf("decode cursor of %s.%s[%d]: %w", pipeline, stream, partition, err)
	}
	return &cp, nil
}

// PutCursor stores cp as the cursor of (pipeline, cp.Stream, cp.Partition).
func (s *DB) PutCursor(ctx context.Context, pipeline, runID string, cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("put cursor of %s.%s[%d]: encode: %w", pipeline, cp.Stream, cp.Partition, err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO cursors (pipeline, stream, partition_index, checkpoint, run_id, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (pipeline, stream, partition_index) DO UPDATE SET checkpoint = excluded.checkpoint,
run_id = excluded.run_id, updated_at = excluded.updated_at`),
		pipeline, cp.Stream, int64(cp.Partition), string(b), runID, micros(s.clock()))
	if err != nil {
		return fmt.Errorf("put cursor of %s.%s[%d]: %w", pipeline, cp.Stream, cp.Partition, err)
	}
	return nil
}

// ListCursors returns a pipeline's cursors by stream and partition.
func (s *DB) ListCursors(ctx context.Context, pipeline string) ([]Cursor, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT checkpoint, run_id, updated_at FROM cursors
WHERE pipeline = ? ORDER BY stream, partition_index`), pipeline)
	if err != nil {
		return nil, fmt.Errorf("list cursors of %s: %w", pipeline, err)
	}
	defer rows.Close()
	var out []Cursor
	for rows.Next() {
		c := Cursor{Pipeline: pipeline}
		var (
			text    string
			updated sql.NullInt64
		)
		if err := rows.Scan(&text, &c.RunID, &updated); err != nil {
			return nil, fmt.Errorf("list cursors of %s: %w", pipeline, err)
		}
		if err := json.Unmarshal([]byte(text), &c.Checkpoint); err != nil {
			return nil, fmt.Errorf("decode cursor of %s: %w", pipeline, err)
		}
		c.UpdatedAt = fromMicros(updated)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cursors of %s: %w", pipeline, err)
	}
	return out, nil
}

// DeleteCursors removes a pipeline's cursors for one stream or all streams.
func (s *DB) DeleteCursors(ctx context.Context, pipeline, stream string) error {
	query, args := `DELETE FROM cursors WHERE pipeline = ?`, []any{pipeline}
	if stream != "" {
		query += ` AND stream = ?`
		args = append(args, stream)
	}
	if _, err := s.db.ExecContext(ctx, s.q(query), args...); err != nil {
		return fmt.Errorf("delete cursors of %s: %w", pipeline, err)
	}
	return nil
}
