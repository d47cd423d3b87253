// Package hostnet gives connectors TCP connections through the host's
// sockets (the sock_* imports): Dial returns a net.Conn whose reads poll
// the host and yield between polls, so other goroutines of the
// single-threaded guest keep running, and whose deadlines work as the net
// package documents. For TLS, StartTLS has the host run the handshake and
// the encryption natively (crypto/tls on top of the connection works too,
// but a wasm guest encrypts at a few tens of MB/s). The host resolves names
// and enforces the connector's allow-list; a denied dial returns an error
// wrapping ErrDenied.
//
// With pgconn:
//
//	cfg.DialFunc = hostnet.DialFunc
//	cfg.LookupFunc = hostnet.LookupFunc
//
// Natively (outside a wasm guest and without an sdktest host in ctx), Dial
// uses a plain net.Dialer.
package hostnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

// ErrDenied is wrapped by Dial errors for addresses off the allow-list.
var ErrDenied = errors.New("hostnet: address not on the connector's allow-list")

// ErrCancelled is returned by reads and writes once the host cancelled the
// operation.
var ErrCancelled = errors.New("hostnet: operation cancelled by the host")

// pollWait is how long one timed sock_read waits after a poll found no data.
const pollWait = 5 * time.Millisecond

// othersRan is how long a runtime.Gosched must take for Read to conclude
// that other goroutines ran (and may run again), so it polls instead of
// blocking the guest in a timed sock_read; socket I/O by another goroutine
// during the yield means the same.
const othersRan = 20 * time.Microsecond

// yieldTime measures how long a runtime.Gosched in Read took; tests replace
// it, since a native test process always has other goroutines to run.
var yieldTime = time.Since

// DialFunc has the signature of pgconn.DialFunc; it is Dial.
func DialFunc(ctx context.Context, network, addr string) (net.Conn, error) {
	return Dial(ctx, network, addr)
}

// LookupFunc has the signature of pgconn.LookupFunc: it returns host
// unchanged, because the host resolves names when dialing.
func LookupFunc(_ context.Context, host string) ([]string, error) {
	return []string{host}, nil
}

// Dial connects to addr ("host:port") over network "tcp" (or "tcp4",
// "tcp6") through the host. ctx is checked before dialing; the host applies
// its own connect timeout.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("hostnet: unsupported network %q", network)}
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	h := rt.FromContext(ctx)
	if h == nil {
		return dialNative(ctx, network, addr)
	}
	rc := h.SockConnect(addr)
	if rc < 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: strAddr(addr), Err: errnoErr(-rc)}
	}
	return &conn{h: h, fd: rc, addr: addr}, nil
}

func errnoErr(errno int32) error {
	switch errno {
	case abi.EACCES:
		return ErrDenied
	case abi.ECANCELED:
		return ErrCancelled
	case abi.ECONNREFUSED:
		return errors.New("connection refused")
	case abi.ECONNRESET:
		return errors.New("connection reset by peer")
	case abi.ETIMEDOUT:
		return os.ErrDeadlineExceeded
	case abi.EHOSTUNREACH:
		return errors.New("host unreachable")
	case abi.EPIPE:
		return errors.New("broken pipe")
	case abi.EBADF:
		return net.ErrClosed
	}
	return fmt.Errorf("host socket error (errno %d)", errno)
}

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }

// conn is a net.Conn over a host socket handle.
type conn struct {
	h    rt.Host
	fd   int32
	addr string

	mu            sync.Mutex
	closed        bool
	readDeadline  time.Time
	writeDeadline time.Time
}

func (c *conn) state() (closed bool, rd, wd time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.readDeadline, c.writeDeadline
}

// Read polls the host socket: a non-blocking sock_read, then on -EAGAIN a
// runtime.Gosched and, when no other goroutine ran meanwhile, a short timed
// sock_read, until data, EOF, an error, the read deadline, Close or host
// cancellation.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	timeout := int32(0)
	for again := false; ; again = true {
		closed, rd, _ := c.state()
		if closed {
			return 0, c.opErr("read", net.ErrClosed)
		}
		if !rd.IsZero() {
			left := time.Until(rd)
			if left <= 0 {
				return 0, c.opErr("read", os.ErrDeadlineExceeded)
			}
			if timeout > 0 && left < pollWait {
				timeout = int32(max(1, left/time.Millisecond))
			}
		}
		n := c.h.SockRead(c.fd, p, timeout)
		switch {
		case n > 0:
			yieldToGC()
			return int(n), nil
		case n == 0:
			return 0, io.EOF
		case n == -abi.EAGAIN:
			if again && c.h.IsCancelled() == 1 {
				return 0, c.opErr("read", ErrCancelled)
			}
			// A timed sock_read blocks the whole (single-threaded) guest,
			// so wait in the host only when no other goroutine had work:
			// when the yield ran one for a while (a COPY writer, say),
			// poll again instead.
			start, calls := time.Now(), sockCalls.Load()
			runtime.Gosched()
			timeout = int32(pollWait / time.Millisecond)
			if sockCalls.Load() != calls || yieldTime(start) >= othersRan {
				timeout = 0
			}
		default:
			return 0, c.opErr("read", errnoErr(-n))
		}
	}
}

// Write writes all of p; the host writes everything or fails.
func (c *conn) Write(p []byte) (int, error) {
	closed, _, wd := c.state()
	if closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if !wd.IsZero() && !time.Now().Before(wd) {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := c.h.SockWrite(c.fd, p)
	if n < 0 {
		return 0, c.opErr("write", errnoErr(-n))
	}
	yieldToGC()
	return int(n), nil
}

// Close releases the host socket; it is idempotent.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	if rc := c.h.SockClose(c.fd); rc < 0 && rc != -abi.EBADF {
		return c.opErr("close", errnoErr(-rc))
	}
	return nil
}

// sockCalls counts successful socket reads and writes of every conn: a
// reader that yielded sees whether other goroutines did I/O meanwhile.
var sockCalls atomic.Uint64

// yieldToGC counts a successful host socket call and lets other goroutines
// run.
// A wasm guest is single-threaded and its host calls never block in the Go
// scheduler, so a busy connector would otherwise never reach a scheduling
// point: a GC cycle started by an allocation then stays in its mark phase
// for the rest of the run (its background mark worker never gets the P),
// and every pointer store pays the write barrier. Measured on a PostgreSQL
// source, that made the guest about 2x slower; one yield per socket call
// (a few per 64 KiB) lets the mark phase finish within microseconds.
func yieldToGC() {
	sockCalls.Add(1)
	runtime.Gosched()
}

func (c *conn) LocalAddr() net.Addr  { return strAddr("guest") }
func (c *conn) RemoteAddr() net.Addr { return strAddr(c.addr) }

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: strAddr(c.addr), Err: err}
}
