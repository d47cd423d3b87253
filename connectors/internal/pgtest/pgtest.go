// Package pgtest creates throwaway PostgreSQL databases for tests. It reads
// RAPIDBYTE_TEST_PG_DSN (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
// and skips the test when the server is unreachable (fails it under CI=true).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
)

// DefaultDSN is used when RAPIDBYTE_TEST_PG_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DSN returns the admin DSN.
func DSN() string {
	if v := os.Getenv("RAPIDBYTE_TEST_PG_DSN"); v != "" {
		return v
	}
	return DefaultDSN
}

// AdminConfig returns the connector config of the admin DSN.
func AdminConfig(t testing.TB) pgclient.Config {
	t.Helper()
	pc, err := pgconn.ParseConfig(DSN())
	if err != nil {
		t.Fatalf("parse RAPIDBYTE_TEST_PG_DSN: %v", err)
	}
	return pgclient.Config{Host: pc.Host, Port: int(pc.Port), User: pc.User, Password: pc.Password, Database: pc.Database}
}

// NewDB creates an empty database named rb_pg_<random> and returns its
// connector config; the database is dropped when the test ends.
func NewDB(t testing.TB) pgclient.Config {
	t.Helper()
	admin := AdminConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgclient.Connect(ctx, admin, pgclient.Dialer{})
	if err != nil {
		Missing(t, "PostgreSQL unreachable: %v", err)
	}
	defer conn.Close(ctx)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "rb_pg_" + hex.EncodeToString(rnd[:])
	if err := pgclient.Exec(ctx, conn, "CREATE DATABASE "+pgsql.Ident(name)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgclient.Connect(ctx, admin, pgclient.Dialer{})
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if err := pgclient.Exec(ctx, c, "DROP DATABASE IF EXISTS "+pgsql.Ident(name)+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	cfg := admin
	cfg.Database = name
	return cfg
}

// Connect opens a connection to cfg, closed when the test ends.
func Connect(t testing.TB, cfg pgclient.Config) *pgclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgclient.Connect(ctx, cfg, pgclient.Dialer{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Exec runs sql or fails the test.
func Exec(t testing.TB, conn *pgclient.Conn, sql string) {
	t.Helper()
	if err := pgclient.Exec(context.Background(), conn, sql); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// QueryStrings runs sql and returns the text cells ("<NULL>" for NULL).
func QueryStrings(t testing.TB, conn *pgclient.Conn, sql string) [][]string {
	t.Helper()
	rows, err := pgclient.Query(context.Background(), conn, sql)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		for _, c := range r {
			if c == nil {
				out[i] = append(out[i], "<NULL>")
			} else {
				out[i] = append(out[i], string(c))
			}
		}
	}
	return out
}

// Count returns SELECT count(*) of a table.
func Count(t testing.TB, conn *pgclient.Conn, qualified string) int {
	t.Helper()
	n, err := strconv.Atoi(QueryStrings(t, conn, "SELECT count(*) FROM "+qualified)[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
