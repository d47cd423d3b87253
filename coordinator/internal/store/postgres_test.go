package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store/storetest"
)

const defaultPGDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// pgAdmin connects to the test server, skipping the test when it is
// unreachable.
func pgAdmin(t *testing.T) (*sql.DB, *url.URL) {
	t.Helper()
	dsn := os.Getenv("RAPIDBYTE_TEST_PG_DSN")
	if dsn == "" {
		dsn = defaultPGDSN
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("RAPIDBYTE_TEST_PG_DSN: %v", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		missing(t, "PostgreSQL unreachable at %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, u
}

// tempDatabase creates rb_cd_<random> and drops it when t ends. It returns
// the database's URL.
func tempDatabase(t *testing.T, admin *sql.DB, server *url.URL) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "rb_cd_" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u := *server
	u.Path = "/" + name
	return u.String()
}

func TestPostgres(t *testing.T) {
	admin, server := pgAdmin(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), tempDatabase(t, admin, server))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestPostgresMigrationRace opens one fresh database from several
// coordinators at once: the advisory lock must apply each migration once.
func TestPostgresMigrationRace(t *testing.T) {
	admin, server := pgAdmin(t)
	dsn := tempDatabase(t, admin, server)
	const n = 4
	stores := make([]*store.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = store.Open(context.Background(), dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	if v, err := stores[0].SchemaVersion(ctx); err != nil || v != 4 {
		t.Errorf("SchemaVersion = %d, %v; want 4", v, err)
	}
	if stores[0].Backend() != "postgres" {
		t.Errorf("Backend = %q", stores[0].Backend())
	}
	// Every coordinator sees the others' writes.
	if _, _, err := stores[1].CreateRun(ctx, store.Run{ID: "r", Pipeline: "p", PipelineYAML: "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[2].GetRun(ctx, "r"); err != nil {
		t.Errorf("GetRun from another coordinator: %v", err)
	}
}

func TestPostgresBadURL(t *testing.T) {
	_, _ = pgAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, "postgres://postgres:s3cret-pw@127.0.0.1:5432/rb_cd_does_not_exist?sslmode=disable")
	if err == nil {
		s.Close()
		t.Fatal("Open of a missing database succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
