package pgclient_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
)

// copyMsg returns a CopyData message (header room, then text) for send.
func copyMsg(text string) []byte {
	return append(make([]byte, pgclient.CopyDataHeader), text...)
}

// lines returns the text-format rows from..to-1 of table t (id, v).
func lines(from, to int, v string) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%d\t%s\n", i, v)
	}
	return b.String()
}

func count(t *testing.T, conn *pgclient.Conn, table string) int {
	t.Helper()
	return pgtest.Count(t, conn, table)
}

func TestCopyFrom(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	ctx := context.Background()
	pgtest.Exec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	reset := func(t *testing.T) {
		t.Helper()
		pgtest.Exec(t, conn, "TRUNCATE t")
	}

	t.Run("several messages, one larger than a write", func(t *testing.T) {
		reset(t)
		big := strings.Repeat("x", 3<<20)
		err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			if err := send(copyMsg(lines(0, 1000, "a"))); err != nil {
				return err
			}
			if err := send(copyMsg("")); err != nil { // nothing to send
				return err
			}
			return send(copyMsg(lines(1000, 1001, big)))
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, conn, "t"); n != 1001 {
			t.Fatalf("rows = %d", n)
		}
		if got := pgtest.QueryStrings(t, conn, "SELECT length(v) FROM t WHERE id = 1000")[0][0]; got != fmt.Sprint(len(big)) {
			t.Fatalf("length of the big value = %s", got)
		}
		stillUsable(t, conn)
	})

	t.Run("a rejected row stops the sending", func(t *testing.T) {
		reset(t)
		const maxSends = 10_000
		var sendErr error
		sent := 0
		err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			// Row 3 is not a number; the server fails the COPY there
			// and send reports it within the next messages. The cap
			// only ends a sender that never hears of it; a busy server
			// answers long before.
			for i := range maxSends {
				msg := lines(2*i, 2*i+2, "v")
				if i == 1 {
					msg = "x\tv\n"
				}
				if sendErr = send(copyMsg(msg)); sendErr != nil {
					return sendErr
				}
				sent++
				time.Sleep(time.Millisecond)
			}
			return nil
		})
		var pgErr *pgclient.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "22P02" || !strings.Contains(pgErr.Where, "line 3") {
			t.Fatalf("got %v (%#v), want invalid_text_representation at line 3", err, pgErr)
		}
		if !errors.Is(sendErr, err) || sent == maxSends {
			t.Fatalf("send returned %v after %d messages", sendErr, sent)
		}
		if n := count(t, conn, "t"); n != 0 {
			t.Fatalf("rows = %d", n)
		}
		stillUsable(t, conn)
	})

	t.Run("an error of fill aborts the COPY", func(t *testing.T) {
		reset(t)
		stop := errors.New("cannot encode\x00 row")
		err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			if err := send(copyMsg(lines(0, 10, "a"))); err != nil {
				return err
			}
			return stop
		})
		if !errors.Is(err, stop) {
			t.Fatalf("got %v, want fill's error", err)
		}
		if n := count(t, conn, "t"); n != 0 {
			t.Fatalf("rows = %d", n)
		}
		stillUsable(t, conn)
	})

	t.Run("a statement the server rejects", func(t *testing.T) {
		err := conn.CopyFrom(ctx, "COPY missing FROM STDIN", func(send func([]byte) error) error {
			if err := send(copyMsg(lines(0, 10, "a"))); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
			return send(copyMsg(lines(10, 20, "a")))
		})
		var pgErr *pgclient.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
			t.Fatalf("got %v, want undefined_table", err)
		}
		stillUsable(t, conn)
	})

	t.Run("a notice per row does not block the COPY", func(t *testing.T) {
		reset(t)
		pgtest.Exec(t, conn, `CREATE FUNCTION noisy() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE NOTICE '%', repeat('n', 1000); RETURN NEW; END$$;
CREATE TRIGGER noisy BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION noisy()`)
		defer pgtest.Exec(t, conn, "DROP TRIGGER noisy ON t")
		// About 20 MB of notices, more than the sockets buffer; the data
		// goes as one message of several writes.
		const rows = 20000
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := conn.CopyFrom(cctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			return send(copyMsg(lines(0, rows, strings.Repeat("v", 200))))
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, conn, "t"); n != rows {
			t.Fatalf("rows = %d", n)
		}
		stillUsable(t, conn)
	})

	t.Run("cancel closes the connection", func(t *testing.T) {
		c := pgtest.Connect(t, cfg)
		cctx, cancel := context.WithCancel(ctx)
		err := c.CopyFrom(cctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			if err := send(copyMsg(lines(0, 10, "a"))); err != nil {
				return err
			}
			cancel()
			time.Sleep(20 * time.Millisecond)
			return send(copyMsg(lines(10, 20, "a")))
		})
		if !errors.Is(err, context.Canceled) || !c.IsClosed() {
			t.Fatalf("got %v, closed %v", err, c.IsClosed())
		}
	})

	t.Run("a panic in fill closes the connection and goes on", func(t *testing.T) {
		c := pgtest.Connect(t, cfg)
		func() {
			defer func() {
				if p := recover(); p != "encoder bug" {
					t.Fatalf("recovered %v, want the fill's panic", p)
				}
			}()
			_ = c.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
				if err := send(copyMsg(lines(0, 10, "a"))); err != nil {
					return err
				}
				panic("encoder bug")
			})
		}()
		if !c.IsClosed() {
			t.Fatal("the connection of a half-sent COPY is still open")
		}
	})
}

func TestOpenCopy(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	ctx := context.Background()
	pgtest.Exec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	pgtest.Exec(t, conn, "CREATE TABLE statements (n int)")
	// Each COPY statement fires the statement trigger once.
	pgtest.Exec(t, conn, `CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO statements VALUES (1); RETURN NULL; END$$;
		CREATE TRIGGER per_statement AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION count_statement()`)
	open := func(t *testing.T) *pgclient.CopyIn {
		t.Helper()
		ci, err := conn.OpenCopy(ctx, "COPY t FROM STDIN")
		if err != nil {
			t.Fatal(err)
		}
		return ci
	}
	// usable checks that the connection answers a query: no reply of the
	// COPY was left unread.
	usable := func(t *testing.T) {
		t.Helper()
		if got := pgtest.QueryStrings(t, conn, "SELECT 'ok'")[0][0]; got != "ok" {
			t.Fatalf("connection answered %q", got)
		}
	}
	reset := func(t *testing.T) {
		t.Helper()
		pgtest.Exec(t, conn, "TRUNCATE t, statements")
	}

	t.Run("one statement across sends", func(t *testing.T) {
		reset(t)
		pgtest.Exec(t, conn, "BEGIN")
		ci := open(t)
		for i := range 4 {
			if err := ci.Send(copyMsg(lines(i*100, i*100+100, "a"))); err != nil {
				t.Fatal(err)
			}
		}
		if err := ci.End(nil); err != nil {
			t.Fatal(err)
		}
		pgtest.Exec(t, conn, "COMMIT")
		if n := count(t, conn, "t"); n != 400 {
			t.Errorf("%d rows, want 400", n)
		}
		if n := count(t, conn, "statements"); n != 1 {
			t.Errorf("%d COPY statements, want 1", n)
		}
	})

	t.Run("a rejected row's line counts from the statement's first row", func(t *testing.T) {
		reset(t)
		pgtest.Exec(t, conn, "BEGIN")
		ci := open(t)
		var err error
		for _, r := range [][2]int{{0, 10}, {10, 20}, {5, 6}, {20, 30}} { // key 5 again on line 21
			if err = ci.Send(copyMsg(lines(r[0], r[1], "a"))); err != nil {
				break // the server's verdict arrived first
			}
		}
		endErr := ci.End(nil)
		if err != nil && !errors.Is(endErr, err) && endErr != err {
			t.Fatalf("End = %v after Send failed with %v", endErr, err)
		}
		var pgErr *pgclient.PgError
		if !errors.As(endErr, &pgErr) || pgErr.Code != "23505" || !strings.Contains(pgErr.Where, "line 21") {
			t.Fatalf("End = %v (where %q), want the unique violation on line 21", endErr, pgErr.Where)
		}
		if again := ci.End(nil); again != endErr {
			t.Fatalf("a second End = %v, want the first one's %v", again, endErr)
		}
		if conn.IsClosed() {
			t.Fatal("connection closed")
		}
		pgtest.Exec(t, conn, "ROLLBACK")
		usable(t)
	})

	t.Run("the connection serves nothing else until End", func(t *testing.T) {
		reset(t)
		ci := open(t)
		if err := ci.Send(copyMsg(lines(0, 10, "a"))); err != nil {
			t.Fatal(err)
		}
		if err := pgclient.Exec(ctx, conn, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "COPY is open") {
			t.Fatalf("a query during the COPY = %v, want a refusal", err)
		}
		if _, err := conn.OpenCopy(ctx, "COPY t FROM STDIN"); err == nil {
			t.Fatal("a second COPY opened during the first")
		}
		cause := errors.New("encoder failed")
		if err := ci.End(cause); err != cause {
			t.Fatalf("End(cause) = %v, want the cause", err)
		}
		usable(t)
		if n := count(t, conn, "t"); n != 0 {
			t.Errorf("%d rows after an aborted COPY, want 0", n)
		}
	})

	t.Run("a context ended during the COPY closes the connection", func(t *testing.T) {
		c := pgtest.Connect(t, cfg)
		cctx, cancel := context.WithCancel(ctx)
		ci, err := c.OpenCopy(cctx, "COPY t FROM STDIN")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		big := copyMsg(strings.Repeat(lines(0, 1, "x"), 1))
		for range 100 {
			if err = ci.Send(big); err != nil {
				break
			}
		}
		if err := ci.End(nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("End = %v, want the context's end", err)
		}
		if !c.IsClosed() {
			t.Fatal("the connection of an interrupted COPY is still open")
		}
	})
}
