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

	"github.com/jackc/pgx/v5/pgconn"
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
// *pgconn.PgError) or writing failed; fill should then return that error.
// When fill returns an error on its own, the COPY is aborted (CopyFail) and
// CopyFrom returns that error; otherwise CopyFrom ends the COPY and returns
// the server's verdict.
//
// It writes the messages straight to the connection instead of through
// pgconn.CopyFrom, which copies the data through an io.Reader into 64 KiB
// messages and polls the socket for the server's answer between them: in a
// wasm guest each copy and poll is work of its own, and each poll a host
// call. A goroutine reads the server's messages meanwhile, so an error
// stops the sending at the next message. The connection must be idle; it is
// idle again afterwards, unless writing or reading failed or ctx ended:
// then the connection has been closed.
func (c *Conn) CopyFrom(ctx context.Context, sql string, fill func(send func(msg []byte) error) error) (err error) {
	if c.rd == nil || c.IsBusy() || c.IsClosed() || c.Frontend().ReadBufferLen() != 0 {
		return fmt.Errorf("copy: connection is not idle")
	}
	conn := c.Conn()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	broken := false
	var r *copyReader
	defer func() {
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
		if r != nil {
			// Unblock the reader, and let it go before closing.
			_ = conn.SetDeadline(time.Unix(1, 0))
			<-r.done
		}
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = c.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
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
	r = &copyReader{rd: c.rd, done: make(chan struct{})}
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
			sendErr = r.err
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
	<-r.done
	broken = r.broken
	if fillErr != nil {
		return fillErr
	}
	return r.err
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
			r.err = pgconn.ErrorResponseToPgError(&msg)
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
