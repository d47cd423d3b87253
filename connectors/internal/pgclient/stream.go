package pgclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Statement is one statement for StreamRows: SQL with binary parameters and
// the result column formats (1 = binary).
type Statement struct {
	// SQL is the statement text, with $n placeholders.
	SQL string
	// Params, ParamOIDs and ParamFormats describe the parameters.
	Params       [][]byte
	ParamOIDs    []uint32
	ParamFormats []int16
	// ResultFormats are the result column formats.
	ResultFormats []int16
}

// errProtocol is wrapped when the server sends something StreamRows does
// not expect; the connection is closed then.
var errProtocol = errors.New("unexpected protocol message")

// StreamRows runs q with the extended protocol and calls rows with the
// result rows in order, several at a time (those that arrived together).
// Each row is its fields: consecutive (int32 big-endian length, bytes)
// pairs, length -1 for NULL, as in a DataRow message after its field count.
// The slices are valid only during the call. When rows returns an error,
// the rest of the result is read and dropped, and StreamRows returns that
// error.
//
// It reads the server's messages straight from the connection's read
// buffer instead of decoding and dispatching every message separately
// (pgproto3's Receive): in a wasm guest that per-row machinery cost about
// as much as converting the values. The connection must be idle; it is idle
// again afterwards, unless reading failed or ctx ended: then the
// connection has been closed.
func (c *Conn) StreamRows(ctx context.Context, q Statement, rows func(rows [][]byte) error) (err error) {
	if c.rd == nil || c.IsClosed() || c.copying || c.Frontend().ReadBufferLen() != 0 {
		return fmt.Errorf("stream rows: connection is not idle")
	}
	conn := c.Conn()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	broken := true // until ReadyForQuery
	defer func() {
		if interrupted := !stop(); broken || interrupted {
			err = c.closeBroken(ctx, err)
		}
	}()

	fe := c.Frontend()
	fe.SendParse(&pgproto3.Parse{Query: q.SQL, ParameterOIDs: q.ParamOIDs})
	fe.SendBind(&pgproto3.Bind{Parameters: q.Params, ParameterFormatCodes: q.ParamFormats, ResultFormatCodes: q.ResultFormats})
	fe.SendExecute(&pgproto3.Execute{})
	fe.SendSync(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		return fmt.Errorf("send query: %w", err)
	}

	var serverErr, rowErr error
	var big []byte // a message larger than the read buffer
	var pending [][]byte
	deliver := func() {
		if len(pending) > 0 && serverErr == nil && rowErr == nil {
			rowErr = rows(pending)
		}
		clear(pending)
		pending = pending[:0]
	}
	for {
		if _, err := c.rd.Peek(5); err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		window, _ := c.rd.Peek(c.rd.Buffered())
		off := 0
		for len(window)-off >= 5 {
			if window[off] == 'D' {
				var n int
				pending, n = splitDataRows(window[off:], pending)
				if off += n; n > 0 {
					continue
				}
			}
			typ := window[off]
			n := int(binary.BigEndian.Uint32(window[off+1:])) - 4
			if n < 0 {
				return fmt.Errorf("%w: %q with length %d", errProtocol, typ, n+4)
			}
			if len(window)-off-5 < n {
				break
			}
			body := window[off+5 : off+5+n]
			off += 5 + n
			deliver()
			done, err := c.handle(typ, body, &serverErr)
			if err != nil || done {
				_, _ = c.rd.Discard(off)
				broken = err != nil
				return errors.Join(err, rowErr, serverErr)
			}
		}
		deliver()
		if _, err := c.rd.Discard(off); err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		if off > 0 {
			continue
		}
		// One message larger than what is buffered: fill the buffer, or
		// read a message larger than the buffer on its own.
		head, _ := c.rd.Peek(5)
		if n := int(binary.BigEndian.Uint32(head[1:])) - 4; 5+n <= c.rd.Size() {
			if _, err := c.rd.Peek(5 + n); err != nil {
				return fmt.Errorf("read result: %w", err)
			}
			continue
		}
		typ, body, err := readMessage(c.rd, &big)
		if err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		if typ == 'D' && len(body) >= 2 {
			pending = append(pending, body[2:])
			deliver()
			continue
		}
		done, err := c.handle(typ, body, &serverErr)
		if err != nil || done {
			broken = err != nil
			return errors.Join(err, rowErr, serverErr)
		}
	}
}

// splitDataRows appends the fields of each complete DataRow message at the
// start of window to rows, and returns them and the length of those
// messages; it stops at any other message, a short DataRow or an
// incomplete message, which StreamRows handles.
//
// It is StreamRows' per-row loop, kept out of line: in a wasm guest a loop
// runs about twice as fast in a small function as inside a large one
// (docs/rationale.md).
//
//go:noinline
func splitDataRows(window []byte, rows [][]byte) ([][]byte, int) {
	off := 0
	for len(window)-off >= 7 && window[off] == 'D' {
		n := int(binary.BigEndian.Uint32(window[off+1:]))
		// 6 <= n (length word and field count) <= len(window)-off-1, as
		// one unsigned comparison.
		if uint(n-6) > uint(len(window)-off-7) {
			break
		}
		rows = append(rows, window[off+7:off+1+n:off+1+n])
		off += 1 + n
	}
	return rows, off
}

// handle processes one backend message of StreamRows other than a
// DataRow; done is true after ReadyForQuery.
func (c *Conn) handle(typ byte, body []byte, serverErr *error) (done bool, err error) {
	switch typ {
	case 'D':
		return false, fmt.Errorf("%w: short DataRow", errProtocol)
	case 'Z': // ReadyForQuery
		return true, nil
	case 'E': // ErrorResponse: the server skips to Sync, then ReadyForQuery
		var msg pgproto3.ErrorResponse
		if err := msg.Decode(body); err != nil {
			return false, fmt.Errorf("%w: ErrorResponse: %v", errProtocol, err)
		}
		*serverErr = pgError(&msg)
		return false, nil
	case '1', '2', 'C', 'n', 'N', 'S', 'A', 'T': // ParseComplete, BindComplete, CommandComplete, NoData, notices, statuses
		return false, nil
	}
	return false, fmt.Errorf("%w: %q", errProtocol, typ)
}
