package pgclient

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// CopyDataHeader is the size of a CopyData message's header (type byte and
// length), which the send function of CopyFrom fills in.
const CopyDataHeader = 5

// copyWriteBytes bounds one write of COPY data. Between writes the goroutine
// reading the server's messages gets to run (in a wasm guest a host write
// blocks every goroutine), so notices the server sends during the COPY do
// not fill the socket while the client waits for the server to read: the
// socket buffers must hold the notices the server sends while it reads one
// piece. 256 KiB is a few host calls per flush.
const copyWriteBytes = 256 << 10

// errCopyEnded is returned by send when the server ended the COPY without
// an error before the client finished it (it never does for COPY FROM
// STDIN).
var errCopyEnded = errors.New("the server ended the COPY early")

// CopyFrom runs sql, a COPY ... FROM STDIN statement, with fill producing
// the data: fill calls send with whole CopyData messages, each msg holding
// CopyDataHeader bytes for the header (send fills them in) and then the
// data. Send returns an error once the server has rejected the COPY (its
// *PgError) or writing failed; fill should then return that error.
// When fill returns an error on its own, the COPY is aborted (CopyFail) and
// CopyFrom returns that error; otherwise CopyFrom ends the COPY and returns
// the server's verdict. It is OpenCopy, fill and End in one call; the
// connection is left as End leaves it.
func (c *Conn) CopyFrom(ctx context.Context, sql string, fill func(send func(msg []byte) error) error) error {
	ci, err := c.OpenCopy(ctx, sql)
	if err != nil {
		return err
	}
	defer func() {
		// A panic in fill leaves the COPY half sent: close the connection
		// as for any broken one, then let the panic go on.
		if p := recover(); p != nil {
			ci.broken = true
			_ = ci.End(fmt.Errorf("panic: %v", p))
			panic(p)
		}
	}()
	return ci.End(fill(ci.Send))
}

// closeBroken closes a connection a call left unusable (broken, or its
// context ended) and returns err, joined to the context's error if any.
// Close bounds its goodbye itself, so ctx's end does not cut it short.
func (c *Conn) closeBroken(ctx context.Context, err error) error {
	_ = c.Close(context.Background())
	if ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return err
}

// CopyIn is a COPY ... FROM STDIN in progress, open across calls: OpenCopy
// starts it, Send writes its data, End finishes it. One statement can so
// carry the rows of many batches. Until End, the connection must be used
// by nothing else.
//
// It writes the messages straight to the connection, with no copy through
// an io.Reader into 64 KiB messages and no poll of the socket for the
// server's answer between them (pgx's way): in a wasm guest each copy and
// poll is work of its own, and each poll a host call. A goroutine reads
// the server's messages meanwhile, so an error stops the sending at the
// next message.
type CopyIn struct {
	c       *Conn
	ctx     context.Context
	r       *copyReader
	stop    func() bool // the ctx watch, armed until End
	sendErr error
	broken  bool // writing failed, or the COPY was left half sent
	ended   bool
	verdict error // End's result
}

// OpenCopy sends sql, a COPY ... FROM STDIN statement, and returns the
// COPY, open for Send. The connection must be idle.
func (c *Conn) OpenCopy(ctx context.Context, sql string) (*CopyIn, error) {
	if c.rd == nil || c.IsClosed() || c.copying || c.Frontend().ReadBufferLen() != 0 {
		return nil, fmt.Errorf("copy: connection is not idle")
	}
	conn := c.Conn()
	ci := &CopyIn{c: c, ctx: ctx, stop: context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })}
	fe := c.Frontend()
	fe.SendQuery(&pgproto3.Query{String: sql})
	if err := fe.Flush(); err != nil {
		ci.stop()
		return nil, c.closeBroken(ctx, fmt.Errorf("send copy: %w", err))
	}
	ci.r = &copyReader{rd: c.rd, done: make(chan struct{})}
	c.copying = true
	go ci.r.run()
	return ci, nil
}

// Send writes msg, one whole CopyData message: CopyDataHeader bytes of
// room for its header (Send fills them in), then the data. It returns the
// server's error once the server has rejected the COPY (a *PgError), or
// why writing failed, and from then on the same error. The server is
// checked between messages only: it reads a message it discards to its
// end, so a message once begun is written whole.
func (ci *CopyIn) Send(msg []byte) error {
	if ci.sendErr != nil {
		return ci.sendErr
	}
	if len(msg) < CopyDataHeader {
		return fmt.Errorf("copy: message of %d bytes has no room for its header", len(msg))
	}
	if len(msg) == CopyDataHeader {
		return nil
	}
	select {
	case <-ci.r.done:
		ci.sendErr = ci.r.err
		if ci.sendErr == nil {
			ci.sendErr = errCopyEnded
		}
		return ci.sendErr
	default:
	}
	msg[0] = 'd'
	binary.BigEndian.PutUint32(msg[1:], uint32(len(msg)-1))
	conn := ci.c.Conn()
	for len(msg) > 0 {
		n := min(len(msg), copyWriteBytes)
		if _, err := conn.Write(msg[:n]); err != nil {
			ci.broken = true
			ci.sendErr = fmt.Errorf("write copy data: %w", err)
			return ci.sendErr
		}
		msg = msg[n:]
	}
	return nil
}

// Err returns the server's error when it has already rejected the COPY,
// without waiting: nil while the COPY goes on (or once it ended).
func (ci *CopyIn) Err() error {
	if ci.ended {
		return nil
	}
	select {
	case <-ci.r.done:
		return ci.r.err
	default:
		return nil
	}
}

// End finishes the COPY and returns its verdict. With cause nil it ends
// the data (CopyDone) and returns the server's answer; otherwise it aborts
// the COPY (CopyFail, the server rolls the statement back) and returns
// cause. After Send failed it returns that failure. The connection is idle
// again afterwards, unless writing or reading failed or ctx ended: then it
// has been closed. Calls after the first return the first one's result.
func (ci *CopyIn) End(cause error) error {
	if !ci.ended {
		ci.ended = true
		ci.verdict = ci.end(cause)
	}
	return ci.verdict
}

func (ci *CopyIn) end(cause error) (err error) {
	c := ci.c
	defer func() {
		c.copying = false
		if interrupted := !ci.stop(); ci.broken || interrupted {
			// Unblock the reader, and let it go before closing.
			_ = c.Conn().SetDeadline(time.Unix(1, 0))
			<-ci.r.done
			err = c.closeBroken(ci.ctx, err)
		}
	}()
	if ci.sendErr != nil || ci.broken {
		if !ci.broken {
			<-ci.r.done
			ci.broken = ci.r.broken
		}
		return cmp.Or(ci.sendErr, cause)
	}
	fe := c.Frontend()
	if cause != nil {
		// The server answers CopyFail with an error; cause is the reason.
		fe.Send(&pgproto3.CopyFail{Message: strings.ReplaceAll(cause.Error(), "\x00", "")})
	} else {
		fe.Send(&pgproto3.CopyDone{})
	}
	if err := fe.Flush(); err != nil {
		ci.broken = true
		return errors.Join(cause, fmt.Errorf("end copy: %w", err))
	}
	<-ci.r.done
	ci.broken = ci.r.broken
	if cause != nil {
		return cause
	}
	return ci.r.err
}

// copyReader reads the server's messages during a COPY FROM STDIN until
// ReadyForQuery.
type copyReader struct {
	rd   *bufio.Reader
	done chan struct{} // closed when the reader returns
	// Valid once done is closed:
	err    error // the server's error, or why reading failed
	broken bool  // the connection is unusable
}

func (r *copyReader) run() {
	defer close(r.done)
	var big []byte
	for {
		typ, body, err := readMessage(r.rd, &big)
		if err != nil {
			// A FATAL ErrorResponse is followed by the end of the
			// connection: its error comes first.
			r.err, r.broken = errors.Join(r.err, fmt.Errorf("read copy result: %w", err)), true
			return
		}
		switch typ {
		case 'Z': // ReadyForQuery
			return
		case 'E': // ErrorResponse: the COPY failed; ReadyForQuery follows
			var msg pgproto3.ErrorResponse
			if err := msg.Decode(body); err != nil {
				r.err, r.broken = fmt.Errorf("%w: ErrorResponse: %v", errProtocol, err), true
				return
			}
			r.err = pgError(&msg)
		case 'G', 'C', 'N', 'S', 'A': // CopyInResponse, CommandComplete, notices, statuses
		default:
			r.err, r.broken = fmt.Errorf("%w: %q during COPY FROM STDIN", errProtocol, typ), true
			return
		}
	}
}

// readMessage reads one backend message from rd: its type and body. The
// body is valid until the next read from rd; a message larger than rd's
// buffer is read into *big.
func readMessage(rd *bufio.Reader, big *[]byte) (byte, []byte, error) {
	head, err := rd.Peek(5)
	if err != nil {
		return 0, nil, err
	}
	typ, n := head[0], int(binary.BigEndian.Uint32(head[1:]))-4
	if n < 0 {
		return 0, nil, fmt.Errorf("%w: %q with length %d", errProtocol, typ, n+4)
	}
	if 5+n <= rd.Size() {
		msg, err := rd.Peek(5 + n)
		if err != nil {
			return 0, nil, err
		}
		_, _ = rd.Discard(5 + n) // buffered: the bytes stay in place
		return typ, msg[5:], nil
	}
	if _, err := rd.Discard(5); err != nil {
		return 0, nil, err
	}
	if cap(*big) < n {
		*big = make([]byte, n)
	}
	*big = (*big)[:n]
	if _, err := io.ReadFull(rd, *big); err != nil {
		return 0, nil, err
	}
	return typ, *big, nil
}
