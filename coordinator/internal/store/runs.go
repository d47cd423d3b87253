package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"time"

	"github.com/google/uuid"
)

const runColumns = `id, pipeline, state, idempotency_key, pipeline_yaml, created_at, started_at, finished_at,
updated_at, cancel_requested, owner, records_read, records_written, bytes_read, bytes_written,
duration_secs, attempts, timings, error, resume_data, resume_blocker, records_failed, follow`

type rowScanner interface {
	Scan(dest ...any) error
}

func scanRun(row rowScanner) (Run, error) {
	var (
		r                                    Run
		key, errText                         sql.NullString
		created, started, finished, updated  sql.NullInt64
		recRead, recWritten, bRead, bWritten int64
		recFailed                            int64
		timings                              string
		state                                string
	)
	if err := row.Scan(&r.ID, &r.Pipeline, &state, &key, &r.PipelineYAML, &created, &started, &finished,
		&updated, &r.CancelRequested, &r.Owner, &recRead, &recWritten, &bRead, &bWritten,
		&r.DurationSecs, &r.Attempts, &timings, &errText, &r.ResumeData, &r.ResumeBlocker, &recFailed, &r.Follow); err != nil {
		return Run{}, err
	}
	r.RecordsFailed = toU64(recFailed)
	r.State = RunState(state)
	r.IdempotencyKey = key.String
	r.CreatedAt, r.StartedAt, r.FinishedAt, r.UpdatedAt = fromMicros(created), fromMicros(started), fromMicros(finished), fromMicros(updated)
	r.RecordsRead, r.RecordsWritten, r.BytesRead, r.BytesWritten = toU64(recRead), toU64(recWritten), toU64(bRead), toU64(bWritten)
	if timings != "" {
		if err := json.Unmarshal([]byte(timings), &r.Timings); err != nil {
			return Run{}, fmt.Errorf("decode timings of run %q: %w", r.ID, err)
		}
	}
	var err error
	if r.Error, err = parseErrJSON(errText); err != nil {
		return Run{}, fmt.Errorf("run %q: %w", r.ID, err)
	}
	return r, nil
}

// CreateRun inserts run, or returns the run with the same idempotency key.
func (s *DB) CreateRun(ctx context.Context, run Run) (Run, bool, error) {
	if run.ID == "" {
		run.ID = uuid.NewString()
	}
	if run.CreatedAt.IsZero() {
		run.CreatedAt = s.clock()
	}
	if run.State == "" {
		run.State = StatePending
	}
	run.CreatedAt = run.CreatedAt.Truncate(time.Microsecond).UTC()
	run.UpdatedAt = s.clock().Truncate(time.Microsecond).UTC()
	timings, err := json.Marshal(run.Timings)
	if err != nil {
		return Run{}, false, fmt.Errorf("create run: encode timings: %w", err)
	}
	errText, err := errJSON(run.Error)
	if err != nil {
		return Run{}, false, fmt.Errorf("create run: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO runs (`+runColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (idempotency_key) DO NOTHING`),
		run.ID, run.Pipeline, string(run.State), nullString(run.IdempotencyKey), run.PipelineYAML,
		micros(run.CreatedAt), micros(run.StartedAt), micros(run.FinishedAt), micros(run.UpdatedAt),
		run.CancelRequested, run.Owner, u64(run.RecordsRead), u64(run.RecordsWritten), u64(run.BytesRead),
		u64(run.BytesWritten), run.DurationSecs, run.Attempts, string(timings), errText, run.ResumeData, run.ResumeBlocker, u64(run.RecordsFailed), run.Follow)
	if err != nil {
		if classify(err) == uniqueViolation {
			return Run{}, false, fmt.Errorf("create run %q: id already exists: %w", run.ID, ErrConflict)
		}
		return Run{}, false, fmt.Errorf("create run %q: %w", run.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Run{}, false, fmt.Errorf("create run %q: %w", run.ID, err)
	} else if n == 1 {
		created, err := s.GetRun(ctx, run.ID)
		return created, false, err
	}
	// The idempotency key already exists.
	existing, err := scanRun(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+runColumns+` FROM runs WHERE idempotency_key = ?`), run.IdempotencyKey))
	if err != nil {
		return Run{}, false, fmt.Errorf("create run: read run with the same idempotency key: %w", err)
	}
	if existing.PipelineYAML != run.PipelineYAML || existing.Pipeline != run.Pipeline {
		return existing, true, fmt.Errorf("create run: idempotency key already used by run %s for a different pipeline: %w", existing.ID, ErrConflict)
	}
	return existing, true, nil
}

// GetRun returns the run with id.
func (s *DB) GetRun(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runColumns+` FROM runs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("get run %q: %w", id, err)
	}
	return r, nil
}

// UpdateRun overwrites the run's mutable fields.
func (s *DB) UpdateRun(ctx context.Context, run Run) error {
	timings, err := json.Marshal(run.Timings)
	if err != nil {
		return fmt.Errorf("update run %q: encode timings: %w", run.ID, err)
	}
	errText, err := errJSON(run.Error)
	if err != nil {
		return fmt.Errorf("update run %q: %w", run.ID, err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET state = ?, started_at = ?, finished_at = ?, updated_at = ?,
owner = ?, records_read = ?, records_written = ?, bytes_read = ?, bytes_written = ?, duration_secs = ?,
attempts = ?, timings = ?, error = ?, records_failed = ? WHERE id = ?`),
		string(run.State), micros(run.StartedAt), micros(run.FinishedAt), micros(s.clock()),
		run.Owner, u64(run.RecordsRead), u64(run.RecordsWritten), u64(run.BytesRead), u64(run.BytesWritten),
		run.DurationSecs, run.Attempts, string(timings), errText, u64(run.RecordsFailed), run.ID)
	if err != nil {
		return fmt.Errorf("update run %q: %w", run.ID, err)
	}
	return affectedOne(res, fmt.Sprintf("run %q", run.ID))
}

func affectedOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// RequestCancel flags a run that is not final for cancellation.
func (s *DB) RequestCancel(ctx context.Context, id string) (Run, bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET cancel_requested = ?, updated_at = ?
WHERE id = ? AND state NOT IN (?, ?, ?)`),
		true, micros(s.clock()), id, string(StateSucceeded), string(StateFailed), string(StateCancelled))
	if err != nil {
		return Run{}, false, fmt.Errorf("cancel run %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Run{}, false, fmt.Errorf("cancel run %q: %w", id, err)
	}
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return Run{}, false, err
	}
	return r, n == 1, nil
}

// ListRuns returns one page of runs, newest first.
func (s *DB) ListRuns(ctx context.Context, f ListFilter) ([]Run, string, error) {
	size := f.PageSize
	switch {
	case size <= 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	var (
		where []string
		args  []any
	)
	if f.Pipeline != "" {
		where = append(where, "pipeline = ?")
		args = append(args, f.Pipeline)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.PageToken != "" {
		created, id, err := decodeToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, created, created, id)
	}
	query := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(size+1)
	runs, err := s.queryRuns(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	next := ""
	if len(runs) > size {
		runs = runs[:size]
		last := runs[size-1]
		next = encodeToken(last.CreatedAt.UnixMicro(), last.ID)
	}
	return runs, next, nil
}

// ListUnfinished returns the PENDING and RUNNING runs, oldest first.
func (s *DB) ListUnfinished(ctx context.Context) ([]Run, error) {
	runs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE state IN ('PENDING', 'RUNNING') ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list unfinished runs: %w", err)
	}
	return runs, nil
}

func (s *DB) queryRuns(ctx context.Context, query string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Page tokens are base64url("v1:<created micros>:<id>").
func encodeToken(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(created, 10) + ":" + id))
}

func decodeToken(tok string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", fmt.Errorf("list runs: malformed page token: %w", ErrInvalid)
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return 0, "", fmt.Errorf("list runs: malformed page token: %w", ErrInvalid)
	}
	created, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("list runs: malformed page token: %w", ErrInvalid)
	}
	return created, parts[2], nil
}
