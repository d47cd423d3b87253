package pgclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
)

func TestQueries(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.NewDB(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pgtest.Exec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, v text)")

	t.Run("query with parameters, NULL cells", func(t *testing.T) {
		rows, err := pgclient.Query(ctx, conn, "SELECT $1::int + 1, NULL::text, $2::text", pgclient.Text("41"), nil)
		if err != nil || len(rows) != 1 || string(rows[0][0]) != "42" || rows[0][1] != nil || rows[0][2] != nil {
			t.Fatalf("rows %q, err %v", rows, err)
		}
	})
	t.Run("server error, then usable", func(t *testing.T) {
		_, err := pgclient.Query(ctx, conn, "SELECT 1/0")
		var pgErr *pgclient.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
			t.Fatalf("err %v, want division_by_zero", err)
		}
		stillUsable(t, conn)
	})
	t.Run("command tag of a failed transaction's COMMIT", func(t *testing.T) {
		tag, err := pgclient.ExecTag(ctx, conn, "BEGIN; INSERT INTO t VALUES (1, 'a')")
		if err != nil || tag != "INSERT 0 1" {
			t.Fatalf("tag %q, err %v", tag, err)
		}
		if err := pgclient.Exec(ctx, conn, "INSERT INTO t VALUES (1, 'dup')"); err == nil {
			t.Fatal("duplicate key accepted")
		}
		if tag, err := pgclient.ExecTag(ctx, conn, "COMMIT"); err != nil || tag != "ROLLBACK" {
			t.Fatalf("COMMIT of a failed transaction: tag %q, err %v; want ROLLBACK", tag, err)
		}
	})
	// A COPY FROM STDIN run as a query is refused, not waited on forever:
	// with the extended protocol the server then skips to a Sync it
	// ignored during the COPY (a reviewer's find).
	for name, run := range map[string]func() error{
		"simple":   func() error { return pgclient.Exec(ctx, conn, "COPY t FROM STDIN") },
		"extended": func() error { _, err := pgclient.Query(ctx, conn, "COPY t FROM STDIN"); return err },
	} {
		t.Run("COPY FROM STDIN as a query, "+name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- run() }()
			select {
			case err := <-done:
				var pgErr *pgclient.PgError
				if !errors.As(err, &pgErr) {
					t.Fatalf("err %v, want the server's refusal", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the query did not return")
			}
			stillUsable(t, conn)
		})
	}
	t.Run("simple rows, stopped early", func(t *testing.T) {
		stop := errors.New("enough")
		n := 0
		err := pgclient.SimpleRows(ctx, conn, "SELECT g FROM generate_series(1, 1000) g", func(v [][]byte) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Fatalf("err %v after %d rows, want the callback's error after 3", err, n)
		}
		stillUsable(t, conn)
	})
	t.Run("a context already ended sends nothing", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := pgclient.Exec(done, conn, "INSERT INTO t VALUES (2, 'b')"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if conn.IsClosed() {
			t.Fatal("connection closed")
		}
		if n := pgtest.Count(t, conn, "t"); n != 0 {
			t.Errorf("%d rows: the statement ran", n)
		}
	})
}
