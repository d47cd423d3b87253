package pgclient_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
)

// fields splits a row's fields (nil for NULL).
func fields(t *testing.T, row []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(row) > 0 {
		n := int32(binary.BigEndian.Uint32(row))
		row = row[4:]
		if n < 0 {
			out = append(out, nil)
			continue
		}
		out = append(out, append([]byte{}, row[:n]...))
		row = row[n:]
	}
	return out
}

func text(sql string, params ...string) pgclient.Statement {
	st := pgclient.Statement{SQL: sql}
	for _, p := range params {
		st.Params = append(st.Params, []byte(p))
	}
	return st
}

// stillUsable fails unless conn answers a query.
func stillUsable(t *testing.T, conn *pgclient.Conn) {
	t.Helper()
	if _, err := pgclient.Query(context.Background(), conn, "SELECT 1"); err != nil {
		t.Fatalf("connection not usable afterwards: %v", err)
	}
}

func TestStreamRows(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.AdminConfig(t))
	ctx := context.Background()

	t.Run("rows, NULLs and a message larger than the read buffer", func(t *testing.T) {
		var got [][][]byte
		big := strings.Repeat("x", 600<<10)
		err := conn.StreamRows(ctx, text("SELECT i::text, CASE WHEN i = 2 THEN NULL WHEN i = 3 THEN $1 ELSE '' END FROM generate_series(1, 4) i", big),
			func(rows [][]byte) error {
				for _, row := range rows {
					got = append(got, fields(t, row))
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || string(got[0][0]) != "1" || got[0][1] == nil || len(got[0][1]) != 0 ||
			got[1][1] != nil || string(got[2][1]) != big || string(got[3][0]) != "4" {
			t.Fatalf("rows: %d, first %q", len(got), got[0])
		}
		stillUsable(t, conn)
	})

	t.Run("a server error after some rows", func(t *testing.T) {
		rows := 0
		err := conn.StreamRows(ctx, text("SELECT 10 / (5 - i) FROM generate_series(1, 10) i"), func(r [][]byte) error { rows += len(r); return nil })
		var pgErr *pgclient.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
			t.Fatalf("got %v, want division_by_zero", err)
		}
		stillUsable(t, conn)
	})

	t.Run("a row error drains the result", func(t *testing.T) {
		stop := errors.New("stop")
		rows := 0
		calls := 0
		err := conn.StreamRows(ctx, text("SELECT i FROM generate_series(1, 100000) i"), func(r [][]byte) error {
			rows += len(r)
			if calls++; calls == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 3 || rows >= 100000 {
			t.Fatalf("got %v after %d rows", err, rows)
		}
		stillUsable(t, conn)
	})

	t.Run("cancel closes the connection", func(t *testing.T) {
		c := pgtest.Connect(t, pgtest.AdminConfig(t))
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err := c.StreamRows(cctx, text("SELECT pg_sleep(5)"), func([][]byte) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) || !c.IsClosed() {
			t.Fatalf("got %v, closed %v", err, c.IsClosed())
		}
	})
}
