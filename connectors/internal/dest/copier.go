package dest

import (
	"context"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
)

// copier is the encode buffer of one binary COPY FROM STDIN: the caller
// appends encoded tuples to buf, which holds one CopyData message (header
// first), and calls maybeFlush, which sends it once it reached the flush
// size.
type copier struct {
	buf   []byte
	flush int
	send  func(msg []byte) error
}

// copyTuples runs the binary COPY sql on conn: it sends the header, lets
// encode append the tuples, then sends the trailer. buf is the encode
// buffer, reused across calls. An error encode returns aborts the COPY and
// is returned as it is. With async the server's verdict is left pending
// (pgclient.Conn.StartCopy).
func copyTuples(ctx context.Context, conn *pgclient.Conn, sql string, flush int, buf *[]byte, async bool, encode func(c *copier) error) error {
	run := conn.CopyFrom
	if async {
		run = conn.StartCopy
	}
	return run(ctx, sql, func(send func([]byte) error) error {
		c := &copier{buf: append((*buf)[:0], make([]byte, pgclient.CopyDataHeader)...), flush: flush, send: send}
		defer func() { *buf = c.buf }()
		c.buf = pgarrow.AppendCopyHeader(c.buf)
		if err := encode(c); err != nil {
			return err
		}
		c.buf = pgarrow.AppendCopyTrailer(c.buf)
		return c.send(c.buf)
	})
}

// maybeFlush sends buf when it reached the flush size.
func (c *copier) maybeFlush() error {
	if len(c.buf) < c.flush {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:pgclient.CopyDataHeader]
	return err
}
