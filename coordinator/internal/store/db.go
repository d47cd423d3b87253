package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// DB is the SQL implementation of Store, over SQLite or PostgreSQL.
type DB struct {
	db        *sql.DB
	dialect   dialect
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*DB)(nil)

// dialect holds what differs between the SQL backends.
type dialect struct {
	name         string
	dollarParams bool
}

var (
	sqliteDialect   = dialect{name: "sqlite"}
	postgresDialect = dialect{name: "postgres", dollarParams: true}
)

// Backend returns "sqlite" or "postgres".
func (s *DB) Backend() string { return s.dialect.name }

// Close closes the database; it is idempotent.
func (s *DB) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// q rewrites ? placeholders to $n for PostgreSQL. Queries never contain a
// literal '?'.
func (s *DB) q(query string) string {
	if !s.dialect.dollarParams {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *DB) clock() time.Time { return time.Now() }

// constraint classifies a driver error as a unique or foreign key violation.
type constraint int

const (
	noConstraint constraint = iota
	uniqueViolation
	foreignKeyViolation
)

func classify(err error) constraint {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "23505":
			return uniqueViolation
		case "23503":
			return foreignKeyViolation
		}
		return noConstraint
	}
	if sqErr, ok := errors.AsType[*sqlite.Error](err); ok {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
	}
	return noConstraint
}

// Time and number encoding: times are Unix microseconds, NULL when zero;
// unsigned counters are stored as BIGINT, saturating at MaxInt64.

func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func u64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func toU64(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// errJSON encodes an optional connector error; nil is SQL NULL.
func errJSON(e *runerr.ConnectorError) (sql.NullString, error) {
	if e == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode error: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func parseErrJSON(v sql.NullString) (*runerr.ConnectorError, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var e runerr.ConnectorError
	if err := json.Unmarshal([]byte(v.String), &e); err != nil {
		return nil, fmt.Errorf("decode stored error: %w", err)
	}
	return &e, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
