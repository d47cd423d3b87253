package pgclient

import (
	"bufio"
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
// the server's verdict.
//
// It writes the messages straight to the connection, with no copy through
// an io.Reader into 64 KiB messages and no poll of the socket for the
// server's answer between them (pgx's way): in a wasm guest each copy and
// poll is work of its own, and each poll a host call. A goroutine reads
// the server's messages meanwhile, so an error stops the sending at the
// next message. The connection must be idle (or
// have a COPY pending, see StartCopy); it is idle again afterwards, unless
// writing or reading failed or ctx ended: then the connection has been
// closed.
func (c *Conn) CopyFrom(ctx context.Context, sql string, fill func(send func(msg []byte) error) error) error {
	return c.copyFrom(ctx, sql, fill, false)
}

// StartCopy is CopyFrom that returns once the data and CopyDone are sent,
// leaving the server's verdict pending: the caller goes on with its next
// batch while the server finishes this one. The verdict is read by Settle,
// or by the next StartCopy or CopyFrom, which sends its own COPY at once
// (the server finds it waiting when it is done with the pending one) and
// reads both verdicts: a failed pending COPY makes that call, or a later
// Settle, return a *PendingCopyError. Use it inside a transaction block:
// there the server answers the COPYs after a failed one with errors and
// ignores their data; outside one it runs them. Until the verdicts are
// read, the connection must be used by nothing but StartCopy, CopyFrom,
// SettlePrevious and Settle.
func (c *Conn) StartCopy(ctx context.Context, sql string, fill func(send func(msg []byte) error) error) error {
	return c.copyFrom(ctx, sql, fill, true)
}

// PendingCopyError is the failure of a COPY that StartCopy left pending,
// found by a later call.
type PendingCopyError struct{ Err error }

func (e *PendingCopyError) Error() string { return e.Err.Error() }

// Unwrap returns the pending COPY's error.
func (e *PendingCopyError) Unwrap() error { return e.Err }

// pendingCopy is a COPY whose verdict is unread.
type pendingCopy struct {
	ctx  context.Context
	r    *copyReader
	stop func() bool // the ctx watch of its call, still armed
}

// Settle reads the verdicts of the COPYs StartCopy left pending, if any,
// and returns the first failure (nil when none is pending or all
// succeeded). A broken connection, or one whose COPY's context ended
// meanwhile, is closed, as CopyFrom does.
func (c *Conn) Settle() error {
	p := c.pending
	if p == nil {
		return nil
	}
	c.pending = nil
	<-p.r.done
	err := p.r.result()
	if interrupted := !p.stop(); p.r.broken || interrupted {
		err = c.closeBroken(p.ctx, err)
	}
	return err
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

// SettlePrevious reads the verdict of the COPY that was pending when the
// pending one started, if any, and returns it; the pending COPY stays
// pending. A caller that must name a rejected row while it still holds
// the row's batch reads the verdicts so, one COPY behind.
func (c *Conn) SettlePrevious() error {
	p := c.pending
	if p == nil || !p.r.hasPrev {
		return nil
	}
	<-p.r.prevDone
	return p.r.prevErr
}

func (c *Conn) copyFrom(ctx context.Context, sql string, fill func(send func(msg []byte) error) error, async bool) (err error) {
	if c.rd == nil || c.IsClosed() || c.pending == nil && c.Frontend().ReadBufferLen() != 0 {
		return fmt.Errorf("copy: connection is not idle")
	}
	conn := c.Conn()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	broken, handedOff := false, false
	var r *copyReader
	defer func() {
		if handedOff {
			return // Settle or the next COPY finishes it
		}
		// A panic in fill leaves the COPY half sent: close the connection
		// as for any broken one, then let the panic go on.
		p := recover()
		if p != nil {
			broken = true
		}
		interrupted := !stop()
		if !broken && !interrupted {
			return
		}
		switch {
		case r != nil:
			// Unblock the reader, and let it go before closing.
			_ = conn.SetDeadline(time.Unix(1, 0))
			<-r.done
		case c.pending != nil:
			// The same for a pending COPY's reader, still reading.
			_ = conn.SetDeadline(time.Unix(1, 0))
			<-c.pending.r.done
		}
		err = c.closeBroken(ctx, err)
		if p != nil {
			panic(p)
		}
	}()

	fe := c.Frontend()
	fe.SendQuery(&pgproto3.Query{String: sql})
	if err := fe.Flush(); err != nil {
		broken = true
		return fmt.Errorf("send copy: %w", err)
	}
	// A pending COPY's replies come first: the reader reads them, then
	// this COPY's. The data is sent meanwhile, so the server finds it
	// waiting when it gets to this statement.
	r = &copyReader{rd: c.rd, done: make(chan struct{}), prev: c.pending, hasPrev: c.pending != nil, prevDone: make(chan struct{})}
	c.pending = nil
	go r.run()

	var sendErr error
	send := func(msg []byte) error {
		if sendErr != nil {
			return sendErr
		}
		if len(msg) < CopyDataHeader {
			return fmt.Errorf("copy: message of %d bytes has no room for its header", len(msg))
		}
		if len(msg) == CopyDataHeader {
			return nil
		}
		select {
		case <-r.done:
			// The server rejected the COPY (or reading failed). Checked
			// only between messages: the server reads a message it
			// discards to its end, so a message once begun is written
			// whole.
			sendErr = r.result()
			if sendErr == nil {
				sendErr = errCopyEnded
			}
			broken = r.broken
			return sendErr
		default:
		}
		msg[0] = 'd'
		binary.BigEndian.PutUint32(msg[1:], uint32(len(msg)-1))
		for len(msg) > 0 {
			n := min(len(msg), copyWriteBytes)
			if _, err := conn.Write(msg[:n]); err != nil {
				broken = true
				sendErr = fmt.Errorf("write copy data: %w", err)
				return sendErr
			}
			msg = msg[n:]
		}
		return nil
	}

	fillErr := fill(send)
	switch {
	case sendErr != nil:
		if !broken {
			<-r.done
		}
		return sendErr
	case fillErr != nil:
		// The server answers CopyFail with an error; fill's is the cause.
		fe.Send(&pgproto3.CopyFail{Message: strings.ReplaceAll(fillErr.Error(), "\x00", "")})
	default:
		fe.Send(&pgproto3.CopyDone{})
	}
	if err := fe.Flush(); err != nil {
		broken = true
		return errors.Join(fillErr, fmt.Errorf("end copy: %w", err))
	}
	if async && fillErr == nil {
		c.pending, handedOff = &pendingCopy{ctx: ctx, r: r, stop: stop}, true
		return nil
	}
	<-r.done
	broken = r.broken
	if fillErr != nil && r.prevErr == nil {
		return fillErr
	}
	return r.result()
}

// copyReader reads the server's messages during a COPY FROM STDIN until
// ReadyForQuery.
type copyReader struct {
	rd       *bufio.Reader
	done     chan struct{} // closed when the reader returns
	prev     *pendingCopy  // a COPY whose replies come before this one's; nil once read
	hasPrev  bool          // prev was set (SettlePrevious then waits for prevDone)
	prevDone chan struct{} // closed once prev's verdict is in prevErr
	// Valid once done is closed:
	err     error // the server's error, or why reading failed
	prevErr error // prev's verdict, when it failed
	broken  bool  // the connection is unusable
}

// result is the reader's verdict: prev's failure first (the server then
// answered this COPY in a failed transaction), else this COPY's.
func (r *copyReader) result() error {
	if r.prevErr != nil {
		return &PendingCopyError{Err: r.prevErr}
	}
	return r.err
}

// verdict is the first failure among this COPY and the ones pending
// before it, unwrapped.
func (r *copyReader) verdict() error {
	if r.prevErr != nil {
		return r.prevErr
	}
	return r.err
}

func (r *copyReader) run() {
	defer close(r.done)
	if p := r.prev; p != nil {
		r.prev = nil // the chain of pending readers ends here
		<-p.r.done
		interrupted := !p.stop() && p.ctx.Err() != nil
		r.prevErr = p.r.verdict()
		if interrupted {
			r.prevErr = errors.Join(p.ctx.Err(), r.prevErr)
		}
		close(r.prevDone)
		if interrupted || p.r.broken {
			r.broken = true
			return
		}
	}
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
