package pgclient

import (
	"cmp"
	"context"
	"errors"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Conn returns the network connection under c.
func (c *Conn) Conn() net.Conn { return c.conn }

// Frontend returns c's protocol encoder and decoder; it reads through c's
// read buffer.
func (c *Conn) Frontend() *pgproto3.Frontend { return c.fe }

// ParameterStatus returns the value the server reported for a run-time
// parameter (server_version, say), "" when it reported none.
func (c *Conn) ParameterStatus(name string) string { return c.params[name] }

// IsClosed reports whether c was closed (by Close, or after a failure
// that left it unusable).
func (c *Conn) IsClosed() bool { return c.closed.Load() }

// Close says goodbye to the server (Terminate, within ctx) and closes the
// connection. It is idempotent.
func (c *Conn) Close(ctx context.Context) error {
	if c.closed.Swap(true) {
		return nil
	}
	dl := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.conn.SetDeadline(dl)
	c.fe.Send(&pgproto3.Terminate{})
	_ = c.fe.Flush()
	return c.conn.Close()
}

// Timeout reports whether err is a timeout: a deadline of the connection's
// or of a context. A read that timed out on a deadline set with
// Conn().SetReadDeadline leaves Receive's connection usable.
func Timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Receive reads the server's next message, valid until the next read. It
// is for a connection in a COPY exchange (replication): an ErrorResponse
// is returned as a *PgError. A timeout leaves the connection usable
// (the rest of a partly read message is read by the next call); any other
// failure closes it.
func (c *Conn) Receive() (pgproto3.BackendMessage, error) {
	msg, err := c.fe.Receive()
	if err != nil {
		if !Timeout(err) {
			_ = c.Close(context.Background())
		}
		return nil, err
	}
	if e, ok := msg.(*pgproto3.ErrorResponse); ok {
		pgErr := pgError(e)
		if sev := cmp.Or(e.SeverityUnlocalized, e.Severity); sev == "FATAL" || sev == "PANIC" {
			_ = c.Close(context.Background())
		}
		return nil, pgErr
	}
	return msg, nil
}

// result is what one simple or extended query returned: its rows (copied),
// the command tag of its last statement, and the first error.
type result struct {
	rows [][][]byte
	tag  string
	err  error
}

// request is one query for run.
type request struct {
	// send queues the query's messages.
	send func(fe *pgproto3.Frontend)
	// extended is set when send used the extended protocol (ended by Sync).
	extended bool
	// keepRows keeps copies of the result rows.
	keepRows bool
	// onRow, when set, is called with each DataRow's values, valid only
	// during the call; after it fails the rest is read and dropped.
	onRow func(values [][]byte) error
}

// run sends q and reads the server's answers until ReadyForQuery. A failed
// read closes the connection, as does ctx ending during the call; a ctx
// already ended sends nothing and leaves the connection as it was.
func (c *Conn) run(ctx context.Context, q request) (res result) {
	switch {
	case c.IsClosed():
		return result{err: net.ErrClosed}
	case c.copying:
		return result{err: errors.New("query: a COPY is open (End it first)")}
	case ctx.Err() != nil:
		return result{err: ctx.Err()}
	}
	stop := c.watch(ctx)
	q.send(c.fe)
	err := c.fe.Flush()
	var rowErr error
	for err == nil {
		var msg pgproto3.BackendMessage
		if msg, err = c.fe.Receive(); err != nil {
			break
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			switch {
			case q.onRow != nil && rowErr == nil && res.err == nil:
				rowErr = q.onRow(m.Values)
			case q.keepRows && res.err == nil:
				row := make([][]byte, len(m.Values))
				for i, v := range m.Values {
					if v != nil {
						row[i] = append([]byte{}, v...)
					}
				}
				res.rows = append(res.rows, row)
			}
		case *pgproto3.CommandComplete:
			res.tag = string(m.CommandTag)
		case *pgproto3.ParameterStatus:
			c.params[m.Name] = m.Value
		case *pgproto3.ErrorResponse:
			if res.err == nil {
				res.err = pgError(m)
			}
		case *pgproto3.ReadyForQuery:
			if !stop() {
				_ = c.Close(ctx)
				return result{err: errors.Join(ctx.Err(), res.err)}
			}
			if res.err == nil {
				res.err = rowErr
			}
			return res
		case *pgproto3.CopyInResponse:
			// A COPY FROM STDIN sent as a query: refuse it, so the
			// server ends it. After an extended-protocol COPY it then
			// skips to the next Sync, which it ignored during the COPY.
			c.fe.Send(&pgproto3.CopyFail{Message: "COPY FROM STDIN is not supported here"})
			if q.extended {
				c.fe.SendSync(&pgproto3.Sync{})
			}
			err = c.fe.Flush()
		}
	}
	stop()
	_ = c.Close(ctx)
	if ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return result{err: errors.Join(res.err, err)}
}
