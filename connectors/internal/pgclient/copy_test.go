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
		var sendErr error
		sent := 0
		err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			// Row 3 is not a number; the server fails the COPY there
			// and send reports it within the next messages.
			for i := range 200 {
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
		if !errors.Is(sendErr, err) || sent == 200 {
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

func TestStartCopy(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	ctx := context.Background()
	pgtest.Exec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, v text)")
	start := func(from, to int) error {
		return conn.StartCopy(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			return send(copyMsg(lines(from, to, "a")))
		})
	}
	// usable checks that the connection answers a query: no reply of a
	// pending COPY was left unread.
	usable := func(t *testing.T) {
		t.Helper()
		if got := pgtest.QueryStrings(t, conn, "SELECT 'ok'")[0][0]; got != "ok" {
			t.Fatalf("connection answered %q", got)
		}
	}
	begin := func(t *testing.T) {
		t.Helper()
		pgtest.Exec(t, conn, "TRUNCATE t")
		pgtest.Exec(t, conn, "BEGIN")
	}

	t.Run("pending verdicts in a transaction", func(t *testing.T) {
		begin(t)
		if err := conn.Settle(); err != nil {
			t.Fatalf("Settle with nothing pending: %v", err)
		}
		if err := conn.SettlePrevious(); err != nil {
			t.Fatalf("SettlePrevious with nothing pending: %v", err)
		}
		for i := range 3 {
			if err := start(i*100, i*100+100); err != nil {
				t.Fatal(err)
			}
			if err := conn.SettlePrevious(); err != nil {
				t.Fatal(err)
			}
		}
		// A CopyFrom after a pending COPY reads both verdicts.
		if err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			return send(copyMsg(lines(300, 350, "b")))
		}); err != nil {
			t.Fatal(err)
		}
		if err := start(350, 400); err != nil {
			t.Fatal(err)
		}
		if err := conn.Settle(); err != nil {
			t.Fatal(err)
		}
		pgtest.Exec(t, conn, "COMMIT")
		if n := count(t, conn, "t"); n != 400 {
			t.Errorf("%d rows, want 400", n)
		}
	})

	t.Run("the failure of a pending COPY reaches the next call", func(t *testing.T) {
		begin(t)
		if err := start(0, 10); err != nil {
			t.Fatal(err)
		}
		if err := start(5, 15); err != nil { // duplicate keys: rejected, verdict pending
			t.Fatal(err)
		}
		if err := conn.SettlePrevious(); err != nil {
			t.Fatalf("SettlePrevious = %v, want the first COPY's success", err)
		}
		// The next COPY is sent whole; the server answers it in the
		// failed transaction and ignores its data.
		err := start(100, 110)
		if err == nil {
			// Sent before the verdict arrived: it is read one COPY behind,
			// and Settle reports it again, as the cause of the last one.
			err = conn.SettlePrevious()
			if serr := conn.Settle(); !errors.As(serr, new(*pgclient.PendingCopyError)) {
				t.Fatalf("Settle = %v, want a PendingCopyError", serr)
			}
		} else if !errors.As(err, new(*pgclient.PendingCopyError)) {
			t.Fatalf("StartCopy = %v, want a PendingCopyError", err)
		}
		var pgErr *pgclient.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			t.Fatalf("err = %v, want the pending COPY's unique violation", err)
		}
		if conn.IsClosed() {
			t.Fatal("connection closed")
		}
		pgtest.Exec(t, conn, "ROLLBACK")
		usable(t)
		if n := count(t, conn, "t"); n != 0 {
			t.Errorf("%d rows, want 0", n)
		}
	})

	t.Run("a failed pending COPY outside a transaction", func(t *testing.T) {
		pgtest.Exec(t, conn, "TRUNCATE t")
		if err := start(0, 10); err != nil {
			t.Fatal(err)
		}
		if err := start(5, 15); err != nil {
			t.Fatal(err)
		}
		// Without a transaction block the server runs the next COPY
		// whatever the pending one's verdict (StartCopy's doc says so).
		err := start(100, 110)
		if err == nil {
			err = conn.Settle()
		}
		if !errors.As(err, new(*pgclient.PendingCopyError)) {
			t.Fatalf("err = %v, want a PendingCopyError", err)
		}
		usable(t)
		if n := count(t, conn, "t"); n != 20 {
			t.Errorf("%d rows, want the first and the third COPY's 20", n)
		}
	})

	t.Run("Settle reports the pending verdict", func(t *testing.T) {
		begin(t)
		if err := start(0, 10); err != nil {
			t.Fatal(err)
		}
		var pgErr *pgclient.PgError
		if err := conn.CopyFrom(ctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			return send(copyMsg(lines(0, 10, "a")))
		}); !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			t.Fatalf("CopyFrom = %v, want its own unique violation", err)
		}
		if err := conn.Settle(); err != nil {
			t.Fatalf("Settle after CopyFrom = %v, want nil: CopyFrom read every verdict", err)
		}
		pgtest.Exec(t, conn, "ROLLBACK")
		usable(t)
	})

	t.Run("a cancelled context closes the connection at Settle", func(t *testing.T) {
		c := pgtest.Connect(t, cfg)
		cctx, cancel := context.WithCancel(ctx)
		pgtest.Exec(t, c, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
		other := pgtest.Connect(t, cfg)
		// other's COPY waits for c's lock, so its verdict is pending until
		// the context ends.
		if err := other.StartCopy(cctx, "COPY t FROM STDIN", func(send func([]byte) error) error {
			return send(copyMsg(lines(0, 1, "a")))
		}); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := other.Settle(); !errors.Is(err, context.Canceled) {
			t.Errorf("Settle = %v, want context.Canceled", err)
		}
		if !other.IsClosed() {
			t.Error("connection left open")
		}
		pgtest.Exec(t, c, "ROLLBACK")
	})
}
