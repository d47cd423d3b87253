package e2etest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the admin connection used when RAPIDBYTE_TEST_PG_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminDSN returns RAPIDBYTE_TEST_PG_DSN or DefaultDSN.
func AdminDSN() string {
	if v := os.Getenv("RAPIDBYTE_TEST_PG_DSN"); v != "" {
		return v
	}
	return DefaultDSN
}

// RequirePostgres skips the test when the admin DSN is unreachable (fails it
// under CI=true: see Missing) and returns its parsed connection config otherwise.
func RequirePostgres(t testing.TB) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(AdminDSN())
	if err != nil {
		t.Fatalf("parse RAPIDBYTE_TEST_PG_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		Missing(t, "PostgreSQL unreachable at RAPIDBYTE_TEST_PG_DSN: %v", err)
	}
	_ = conn.Close(ctx)
	return cfg
}

// AdminExec runs sql on the admin database (e.g. CREATE ROLE); it fails the test on error.
func AdminExec(t testing.TB, sql string, args ...any) {
	t.Helper()
	adminExec(t, AdminDSN(), sql, args...)
}

func adminExec(t testing.TB, admin, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("admin exec %q: %v", abbrev(sql), err)
	}
}

// DB is a test database on the server of the admin DSN.
type DB struct {
	// Name is the database name.
	Name string
	// Host, Port and User are the connection parameters of the admin DSN.
	Host string
	Port uint16
	User string
	// Password is the admin DSN's password (empty with trust auth).
	Password string
	// DSN connects to this database with the admin credentials.
	DSN string

	mu   sync.Mutex
	pool *pgxpool.Pool
}

// NewDatabase drops (if left over) and creates database name, and drops it
// again WITH (FORCE) in t.Cleanup. It skips the test when PostgreSQL is
// unreachable. Use your team prefix in name (e.g. rb_e2a_...).
func NewDatabase(t testing.TB, name string) *DB {
	t.Helper()
	return newDatabase(t, RequirePostgres(t), AdminDSN(), name)
}

// LogicalDSN returns RAPIDBYTE_TEST_PG_LOGICAL_DSN, the admin DSN of a
// server with wal_level=logical (scripts/pg-logical.sh starts one), and
// fails the test when it is unset or unreachable.
func LogicalDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("RAPIDBYTE_TEST_PG_LOGICAL_DSN")
	if dsn == "" {
		t.Fatal(`RAPIDBYTE_TEST_PG_LOGICAL_DSN is unset: CDC tests need a server with wal_level=logical; run eval "$(scripts/pg-logical.sh)" (make test does)`)
	}
	return dsn
}

// NewLogicalDatabase is NewDatabase on the wal_level=logical server of
// LogicalDSN.
func NewLogicalDatabase(t testing.TB, name string) *DB {
	t.Helper()
	dsn := LogicalDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse RAPIDBYTE_TEST_PG_LOGICAL_DSN: %v", err)
	}
	return newDatabase(t, cfg, dsn, name)
}

func newDatabase(t testing.TB, cfg *pgx.ConnConfig, admin, name string) *DB {
	t.Helper()
	ident := pgx.Identifier{name}.Sanitize()
	adminExec(t, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	adminExec(t, admin, "CREATE DATABASE "+ident)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Key/value DSNs: rebuild a URL from the parsed config.
		u = &url.URL{Scheme: "postgres", Host: cfg.Host + ":" + strconv.Itoa(int(cfg.Port))}
		if cfg.Password != "" {
			u.User = url.UserPassword(cfg.User, cfg.Password)
		} else {
			u.User = url.User(cfg.User)
		}
		u.RawQuery = "sslmode=disable"
	}
	u.Path = "/" + name
	db := &DB{Name: name, Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password, DSN: u.String()}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return db
}

// Pool returns a connection pool to the database, opened on first use and
// closed by Close (NewDatabase's cleanup calls it).
func (d *DB) Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool == nil {
		p, err := pgxpool.New(context.Background(), d.DSN)
		if err != nil {
			t.Fatalf("open pool on %s: %v", d.Name, err)
		}
		d.pool = p
	}
	return d.pool
}

// Close closes the pool, if open.
func (d *DB) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool != nil {
		d.pool.Close()
		d.pool = nil
	}
}

// Exec runs sql (several statements allowed when args is empty) and fails
// the test on error.
func (d *DB) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := d.Pool(t).Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: exec %q: %v", d.Name, abbrev(sql), err)
	}
}

// QueryRow runs a one-row query and scans it into dest, failing the test on error.
func (d *DB) QueryRow(t testing.TB, sql string, args []any, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := d.Pool(t).QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: query %q: %v", d.Name, abbrev(sql), err)
	}
}

// Int64 returns the single bigint-convertible value sql yields.
func (d *DB) Int64(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	var v int64
	d.QueryRow(t, sql, args, &v)
	return v
}

// Strings returns the first column of every row of sql as text (NULL as "<NULL>").
func (d *DB) Strings(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := d.Pool(t).Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: query %q: %v", d.Name, abbrev(sql), err)
	}
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: scan %q: %v", d.Name, abbrev(sql), err)
		}
		if s == nil {
			out = append(out, "<NULL>")
		} else {
			out = append(out, *s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: query %q: %v", d.Name, abbrev(sql), err)
	}
	return out
}

// Count returns count(*) of table (a quoted, possibly schema-qualified name; see Ident).
func (d *DB) Count(t testing.TB, table string) int64 {
	t.Helper()
	return d.Int64(t, "SELECT count(*) FROM "+table)
}

// Columns returns the column names of schema.table in ordinal order (unquoted).
func (d *DB) Columns(t testing.TB, schema, table string) []string {
	t.Helper()
	return d.Strings(t, `SELECT a.attname::text FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, schema, table)
}

// ColumnTypes returns format_type of each column of schema.table in ordinal order.
func (d *DB) ColumnTypes(t testing.TB, schema, table string) []string {
	t.Helper()
	return d.Strings(t, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, schema, table)
}

// Ident quotes the parts of a possibly qualified identifier:
// Ident("public", `My "T"`) is "public"."My ""T""".
func Ident(parts ...string) string {
	return pgx.Identifier(parts).Sanitize()
}

// ConnectorConfig returns the source-postgres / dest-postgres connection
// config of the database (host, port, user, database, plus password when
// set), to which a caller may add keys such as schema.
func (d *DB) ConnectorConfig() map[string]any {
	m := map[string]any{"host": d.Host, "port": int(d.Port), "user": d.User, "database": d.Name}
	if d.Password != "" {
		m["password"] = d.Password
	}
	return m
}

func abbrev(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// String describes the database for messages.
func (d *DB) String() string { return fmt.Sprintf("database %s", d.Name) }

// Missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
