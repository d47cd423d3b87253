package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// DefaultURL returns the default state store, "sqlite://<home>/.rapidbyte/state.db",
// falling back to a relative ".rapidbyte/state.db" when the home directory
// is unknown.
func DefaultURL() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "sqlite://" + filepath.Join(".rapidbyte", "state.db")
	}
	return "sqlite://" + filepath.Join(home, ".rapidbyte", "state.db")
}

// Open opens the store at url and applies pending migrations:
//
//   - "sqlite:///abs/path.db", "sqlite://relative.db", "sqlite:path.db" or a
//     bare path: SQLite (pure Go), WAL mode, busy timeout, one connection so
//     writes never contend inside the process. The parent directory is
//     created. A leading "~/" means the home directory.
//   - "postgres://..." or "postgresql://...": PostgreSQL through pgx.
//   - "": DefaultURL().
//
// The returned *DB implements Store; the caller closes it.
func Open(ctx context.Context, url string) (*DB, error) {
	if url == "" {
		url = DefaultURL()
	}
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	case strings.Contains(url, "://") && !strings.HasPrefix(url, "sqlite://"):
		scheme, _, _ := strings.Cut(url, "://")
		return nil, fmt.Errorf("open state store: unsupported scheme %q (want sqlite:// or postgres://): %w", scheme, ErrInvalid)
	default:
		return openSQLite(ctx, url)
	}
}

func sqlitePath(url string) (string, error) {
	p := url
	switch {
	case strings.HasPrefix(p, "sqlite://"):
		p = strings.TrimPrefix(p, "sqlite://")
	case strings.HasPrefix(p, "sqlite:"):
		p = strings.TrimPrefix(p, "sqlite:")
	}
	if p == "" {
		return "", fmt.Errorf("open state store: empty sqlite path: %w", ErrInvalid)
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("open state store: sqlite path %q must not contain ? or #: %w", p, ErrInvalid)
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("open state store: expand ~: %w", err)
		}
		p = filepath.Join(home, rest)
	}
	return p, nil
}

func openSQLite(ctx context.Context, url string) (*DB, error) {
	path, err := sqlitePath(url)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open state store: create directory for %q: %w", path, err)
	}
	dsn := path + "?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite state store %q: %w", path, err)
	}
	// One connection: SQLite allows one writer at a time, and with a single
	// connection the process never meets SQLITE_BUSY from itself.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &DB{db: db, dialect: sqliteDialect}
	// Switching a new file to WAL takes an exclusive lock for which SQLite
	// does not wait on its busy timeout, so processes opening the same new
	// file at once (a coordinator restarting while its predecessor exits)
	// retry that briefly.
	deadline := time.Now().Add(sqliteBusyWait)
	for {
		err := s.init(ctx)
		if err == nil {
			return s, nil
		}
		if !isSQLiteBusy(err) || time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("open sqlite state store %q: %w", path, err), db.Close())
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("open sqlite state store %q: %w", path, ctx.Err()), db.Close())
		case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
		}
	}
}

// sqliteBusyWait bounds how long openSQLite retries a locked database.
const sqliteBusyWait = 10 * time.Second

// isSQLiteBusy reports whether err is SQLITE_BUSY (5) or SQLITE_LOCKED (6).
func isSQLiteBusy(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	c := coded.Code() & 0xff // extended codes keep the primary in the low byte
	return c == 5 || c == 6
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres state store: %w", redactErr(err, url))
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	s := &DB{db: db, dialect: postgresDialect}
	if err := s.init(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open postgres state store: %w", redactErr(err, url)), db.Close())
	}
	return s, nil
}

// redactErr keeps a connection URL (which may carry a password) out of an
// error message.
func redactErr(err error, url string) error {
	if err == nil || !strings.Contains(err.Error(), url) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), url, "<state url>"))
}

func (s *DB) init(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
