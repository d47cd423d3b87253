package dest

import (
	"context"
	"errors"
	"io"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
)

// copier streams one binary COPY FROM STDIN: the caller appends encoded
// tuples to buf and the copier hands them to pgconn.CopyFrom through a pipe
// whenever buf reaches the flush size.
type copier struct {
	pw     *io.PipeWriter
	done   chan copyResult
	buf    []byte
	flush  int
	closed bool
	res    copyResult
}

type copyResult struct {
	rows int64
	err  error
}

// startCopy begins COPY sql on conn. buf is reused as the encode buffer.
func startCopy(ctx context.Context, conn *pgconn.PgConn, sql string, flush int, buf []byte) *copier {
	pr, pw := io.Pipe()
	c := &copier{pw: pw, done: make(chan copyResult, 1), flush: flush}
	go func() {
		tag, err := conn.CopyFrom(ctx, pr, sql)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.CloseWithError(io.ErrClosedPipe)
		}
		c.done <- copyResult{rows: tag.RowsAffected(), err: err}
	}()
	c.buf = pgarrow.AppendCopyHeader(buf[:0])
	return c
}

// maybeFlush sends buf when it reached the flush size.
func (c *copier) maybeFlush() error {
	if len(c.buf) < c.flush {
		return nil
	}
	return c.send()
}

func (c *copier) send() error {
	if c.closed {
		return c.resultErr()
	}
	_, err := c.pw.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		c.closed = true
		c.res = <-c.done
		return c.resultErr()
	}
	return nil
}

func (c *copier) resultErr() error {
	if c.res.err != nil {
		return c.res.err
	}
	return errors.New("copy ended early")
}

// finish sends the trailer, ends the COPY and returns the rows copied.
func (c *copier) finish() (int64, error) {
	if c.closed {
		return 0, c.resultErr()
	}
	c.buf = pgarrow.AppendCopyTrailer(c.buf)
	if err := c.send(); err != nil {
		return 0, err
	}
	_ = c.pw.Close()
	c.closed = true
	c.res = <-c.done
	return c.res.rows, c.res.err
}

// abort stops the COPY with err (the server discards it).
func (c *copier) abort(err error) {
	if c.closed {
		return
	}
	c.pw.CloseWithError(err)
	c.closed = true
	c.res = <-c.done
}
