package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// AddAttempt records the start of an attempt.
func (s *DB) AddAttempt(ctx context.Context, a Attempt) error {
	streams := a.Streams
	if streams == nil {
		streams = []string{}
	}
	sj, err := json.Marshal(streams)
	if err != nil {
		return fmt.Errorf("add attempt %d of run %q: encode streams: %w", a.Number, a.RunID, err)
	}
	errText, err := errJSON(a.Error)
	if err != nil {
		return fmt.Errorf("add attempt %d of run %q: %w", a.Number, a.RunID, err)
	}
	started := a.StartedAt
	if started.IsZero() {
		started = s.clock()
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO attempts (run_id, number, started_at, finished_at, error, streams)
VALUES (?, ?, ?, ?, ?, ?)`), a.RunID, a.Number, micros(started), micros(a.FinishedAt), errText, string(sj))
	switch classify(err) {
	case uniqueViolation:
		return fmt.Errorf("add attempt %d of run %q: already recorded: %w", a.Number, a.RunID, ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("add attempt %d: run %q: %w", a.Number, a.RunID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add attempt %d of run %q: %w", a.Number, a.RunID, err)
	}
	return nil
}

// FinishAttempt records the end of an attempt.
func (s *DB) FinishAttempt(ctx context.Context, runID string, number int, finishedAt time.Time, failure *runerr.ConnectorError) error {
	errText, err := errJSON(failure)
	if err != nil {
		return fmt.Errorf("finish attempt %d of run %q: %w", number, runID, err)
	}
	if finishedAt.IsZero() {
		finishedAt = s.clock()
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE attempts SET finished_at = ?, error = ? WHERE run_id = ? AND number = ?`),
		micros(finishedAt), errText, runID, number)
	if err != nil {
		return fmt.Errorf("finish attempt %d of run %q: %w", number, runID, err)
	}
	return affectedOne(res, fmt.Sprintf("attempt %d of run %q", number, runID))
}

// ListAttempts returns a run's attempts ordered by number.
func (s *DB) ListAttempts(ctx context.Context, runID string) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT run_id, number, started_at, finished_at, error, streams
FROM attempts WHERE run_id = ? ORDER BY number`), runID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var (
			a                 Attempt
			started, finished sql.NullInt64
			errText           sql.NullString
			streams           string
		)
		if err := rows.Scan(&a.RunID, &a.Number, &started, &finished, &errText, &streams); err != nil {
			return nil, fmt.Errorf("list attempts of run %q: %w", runID, err)
		}
		a.StartedAt, a.FinishedAt = fromMicros(started), fromMicros(finished)
		if a.Error, err = parseErrJSON(errText); err != nil {
			return nil, fmt.Errorf("attempt %d of run %q: %w", a.Number, runID, err)
		}
		if err := json.Unmarshal([]byte(streams), &a.Streams); err != nil {
			return nil, fmt.Errorf("attempt %d of run %q: decode streams: %w", a.Number, runID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of run %q: %w", runID, err)
	}
	return out, nil
}
