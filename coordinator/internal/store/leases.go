package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes pipeline l.Pipeline's lease for run l.RunID and owner
// l.Owner until l.ExpiresAt, in one conditional upsert: it succeeds when the
// pipeline has no lease, when the lease expired before now, or when the
// same run and owner hold it already (a restarted coordinator with the same
// owner id). Otherwise it returns the lease that blocks it and false.
func (s *DB) AcquireLease(ctx context.Context, l Lease, now time.Time) (Lease, bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO pipeline_leases (pipeline, run_id, owner, expires_at)
VALUES (?, ?, ?, ?)
ON CONFLICT (pipeline) DO UPDATE SET run_id = excluded.run_id, owner = excluded.owner, expires_at = excluded.expires_at
WHERE pipeline_leases.expires_at < ?
   OR (pipeline_leases.run_id = excluded.run_id AND pipeline_leases.owner = excluded.owner)`),
		l.Pipeline, l.RunID, l.Owner, l.ExpiresAt.UnixMicro(), now.UnixMicro())
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquire lease of pipeline %q: %w", l.Pipeline, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquire lease of pipeline %q: %w", l.Pipeline, err)
	}
	if n == 1 {
		l.ExpiresAt = l.ExpiresAt.Truncate(time.Microsecond).UTC()
		return l, true, nil
	}
	held, err := s.GetLease(ctx, l.Pipeline)
	if errors.Is(err, ErrNotFound) {
		// Released between the upsert and the read: the caller may try again.
		return Lease{Pipeline: l.Pipeline}, false, nil
	}
	return held, false, err
}

// RenewLease moves the expiry of the lease l names (pipeline, run and
// owner) to l.ExpiresAt. It reports false when that lease is gone: taken
// over by another coordinator or released.
func (s *DB) RenewLease(ctx context.Context, l Lease) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE pipeline_leases SET expires_at = ?
WHERE pipeline = ? AND run_id = ? AND owner = ?`), l.ExpiresAt.UnixMicro(), l.Pipeline, l.RunID, l.Owner)
	if err != nil {
		return false, fmt.Errorf("renew lease of pipeline %q: %w", l.Pipeline, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew lease of pipeline %q: %w", l.Pipeline, err)
	}
	return n == 1, nil
}

// ReleaseLease deletes the pipeline's lease if run runID and owner still
// hold it; releasing a lease held by someone else, or none, does nothing.
func (s *DB) ReleaseLease(ctx context.Context, pipeline, runID, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM pipeline_leases WHERE pipeline = ? AND run_id = ? AND owner = ?`),
		pipeline, runID, owner); err != nil {
		return fmt.Errorf("release lease of pipeline %q: %w", pipeline, err)
	}
	return nil
}

// GetLease returns the pipeline's lease, or an error wrapping ErrNotFound.
func (s *DB) GetLease(ctx context.Context, pipeline string) (Lease, error) {
	l := Lease{Pipeline: pipeline}
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT run_id, owner, expires_at FROM pipeline_leases WHERE pipeline = ?`), pipeline).
		Scan(&l.RunID, &l.Owner, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("lease of pipeline %q: %w", pipeline, ErrNotFound)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("get lease of pipeline %q: %w", pipeline, err)
	}
	l.ExpiresAt = time.UnixMicro(exp).UTC()
	return l, nil
}

// ListLeases returns every lease ordered by pipeline.
func (s *DB) ListLeases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline, run_id, owner, expires_at FROM pipeline_leases ORDER BY pipeline`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var exp int64
		if err := rows.Scan(&l.Pipeline, &l.RunID, &l.Owner, &exp); err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		l.ExpiresAt = time.UnixMicro(exp).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}
