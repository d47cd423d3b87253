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
// is returned as it is.
func copyTuples(ctx context.Context, conn *pgclient.Conn, sql string, flush int, buf *[]byte, encode func(c *copier) error) error {
	return conn.CopyFrom(ctx, sql, func(send func([]byte) error) error {
		c := newCopier(*buf, flush, send)
		defer func() { *buf = c.buf }()
		if err := encode(c); err != nil {
			return err
		}
		return c.finish()
	})
}

// newCopier returns a copier whose buffer (reusing buf's memory) holds
// the COPY's header.
func newCopier(buf []byte, flush int, send func([]byte) error) *copier {
	c := &copier{buf: append(buf[:0], make([]byte, pgclient.CopyDataHeader)...), flush: flush, send: send}
	c.buf = pgarrow.AppendCopyHeader(c.buf)
	return c
}

// finish sends what buf holds with the COPY's trailer.
func (c *copier) finish() error {
	c.buf = pgarrow.AppendCopyTrailer(c.buf)
	return c.send(c.buf)
}

// flushAll sends what buf holds, if anything.
func (c *copier) flushAll() error {
	if len(c.buf) == pgclient.CopyDataHeader {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:pgclient.CopyDataHeader]
	return err
}

// maybeFlush sends buf when it reached the flush size.
func (c *copier) maybeFlush() error {
	if len(c.buf) < c.flush {
		return nil
	}
	return c.flushAll()
}
