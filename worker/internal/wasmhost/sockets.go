package wasmhost

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/hosttls"
	"github.com/tetratelabs/wazero/api"
)

const (
	dialTimeout    = 15 * time.Second
	maxReadWait    = 100 * time.Millisecond
	maxSocketsOpen = 256
)

// allowList holds the host patterns a guest may dial: "host" (any port),
// "host:port", "*.domain" (suffix, any port) or "*" (anything).
type allowList struct {
	patterns []string
}

// newAllowList collects the hosts in the connector config's "host" and
// "hosts" fields plus the given pattern lists.
func newAllowList(config json.RawMessage, lists ...[]string) allowList {
	var a allowList
	var cfg map[string]any
	if len(config) > 0 && json.Unmarshal(config, &cfg) == nil {
		for _, key := range []string{"host", "hosts"} {
			switch v := cfg[key].(type) {
			case string:
				a.addList(v)
			case []any:
				for _, h := range v {
					if s, ok := h.(string); ok {
						a.addList(s)
					}
				}
			}
		}
	}
	for _, l := range lists {
		for _, p := range l {
			a.add(p)
		}
	}
	return a
}

// addList adds the comma-separated entries of a config value
// ("h1:5432,h2:5432").
func (a *allowList) addList(v string) {
	for _, h := range strings.Split(v, ",") {
		a.add(h)
	}
}

func (a *allowList) add(p string) {
	p = strings.ToLower(strings.TrimSpace(p))
	if p != "" {
		a.patterns = append(a.patterns, p)
	}
}

// allows reports whether addr ("host:port") matches a pattern.
func (a allowList) allows(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return false
	}
	host = strings.ToLower(host)
	for _, p := range a.patterns {
		if p == "*" {
			return true
		}
		ph, pp := p, ""
		if h, prt, err := net.SplitHostPort(p); err == nil {
			ph, pp = h, prt
		}
		if pp != "" && pp != port {
			continue
		}
		if ph == host || strings.HasPrefix(ph, "*.") && strings.HasSuffix(host, ph[1:]) {
			return true
		}
	}
	return false
}

// hostSock is a guest's socket: a TCP connection, and once the guest asked
// for it (sock_tls), the TLS client on top of it, which every read and
// write then goes through.
type hostSock struct {
	tcp *net.TCPConn
	tls *tls.Conn // set once, before the guest uses the socket again

	// streamed counts the bytes read since the last timed read that ran
	// out; lowWater is set while the socket has a receive low-water mark
	// (see lowwater.go). Only the instance's one guest thread reads.
	streamed int
	lowWater bool
}

// conn is the connection reads and writes go through.
func (s *hostSock) conn() net.Conn {
	if s.tls != nil {
		return s.tls
	}
	return s.tcp
}

// Close closes the TCP connection at once, also under TLS: tls.Conn's
// Close first sends close_notify with a 5 s write deadline of its own,
// which a peer that stopped reading would make every close of a cancelled
// instance wait out. PostgreSQL needs no close_notify (a client ends with
// Terminate).
func (s *hostSock) Close() error { return s.tcp.Close() }

// sockTable maps guest handles to host connections.
type sockTable struct {
	mu    sync.Mutex
	next  int32
	conns map[int32]*hostSock
}

func (t *sockTable) init() { t.conns = map[int32]*hostSock{} }

func (t *sockTable) get(h int32) *hostSock {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[h]
}

func (t *sockTable) add(c *hostSock) (int32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil || len(t.conns) >= maxSocketsOpen {
		return 0, false
	}
	t.next++
	t.conns[t.next] = c
	return t.next, true
}

func (t *sockTable) remove(h int32) *hostSock {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[h]
	delete(t.conns, h)
	return c
}

// closeAll closes every socket; later lookups fail with EBADF.
func (t *sockTable) closeAll() {
	t.mu.Lock()
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func hSockConnect(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	b, ok := in.readCopy(mod, "sock_connect address", api.DecodeU32(s[0]), api.DecodeU32(s[1]), 1024)
	if !ok {
		return -abi.EFAULT
	}
	addr := string(b)
	if !in.allow.allows(addr) {
		in.denied = append(in.denied, fmt.Sprintf("%q", addr))
		in.logger.Warn("dial denied: address not on the allow-list", "addr", addr)
		return -abi.EACCES
	}
	var policy *netPolicy // none for an instance without a runtime (fuzzing)
	if in.r != nil {
		policy = in.r.net
	}
	dial, err := policy.check(ctx, addr)
	if errors.Is(err, errPolicyDenied) {
		in.denied = append(in.denied, fmt.Sprintf("%q (worker network policy)", addr))
		in.logger.Warn("dial denied by the worker's network policy", "addr", addr)
		return -abi.EACCES
	}
	if err != nil {
		in.logger.Debug("dial failed", "addr", addr, "error", err)
		return -dialErrno(ctx, err)
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", dial)
	if err != nil {
		in.logger.Debug("dial failed", "addr", addr, "error", err)
		return -dialErrno(ctx, err)
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return -abi.EIO
	}
	_ = tc.SetNoDelay(true)
	h, ok := in.socks.add(&hostSock{tcp: tc})
	if !ok {
		_ = tc.Close()
		return -abi.EIO
	}
	return h
}

func dialErrno(ctx context.Context, err error) int32 {
	var dnsErr *net.DNSError
	switch {
	case ctx.Err() != nil:
		return abi.ECANCELED
	case errors.Is(err, syscall.ECONNREFUSED):
		return abi.ECONNREFUSED
	case errors.Is(err, syscall.ECONNRESET):
		return abi.ECONNRESET
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.As(err, &dnsErr):
		return abi.EHOSTUNREACH
	case errors.Is(err, os.ErrDeadlineExceeded):
		return abi.ETIMEDOUT
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return abi.ETIMEDOUT
	}
	return abi.EIO
}

// hSockRead reads without blocking when timeoutMs is 0 (a raw read that
// returns -EAGAIN when nothing is buffered), otherwise waits at most
// timeoutMs (capped at maxReadWait). The read deadline is cleared after a
// timed read so it never affects a later poll.
func hSockRead(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	h := api.DecodeI32(s[0])
	ptr, capacity := api.DecodeU32(s[1]), api.DecodeU32(s[2])
	timeoutMs := api.DecodeI32(s[3])
	c := in.socks.get(h)
	if c == nil {
		return -abi.EBADF
	}
	if capacity == 0 {
		return -abi.EINVAL
	}
	capacity = min(capacity, 1<<30)
	buf, ok := read(mod, ptr, capacity)
	if !ok {
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("sock_read buffer [%d, +%d) is outside guest memory", ptr, capacity))
		return -abi.EFAULT
	}
	return c.read(ctx, buf, timeoutMs)
}

// read is sock_read on s: a poll when timeoutMs is 0, else a read that
// waits at most timeoutMs (capped at maxReadWait, and at lowWaterWait while
// s has a low-water mark).
func (s *hostSock) read(ctx context.Context, buf []byte, timeoutMs int32) int32 {
	if timeoutMs <= 0 {
		return s.count(pollRead(s, buf))
	}
	wait := min(time.Duration(timeoutMs)*time.Millisecond, maxReadWait)
	if s.lowWater {
		wait = min(wait, lowWaterWait)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = max(time.Until(dl), time.Millisecond)
	}
	conn := s.conn()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	n, err := conn.Read(buf)
	_ = conn.SetReadDeadline(time.Time{})
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil && s.waitedInVain() {
		// Bytes below the dropped mark may be queued: return them now.
		return s.count(pollRead(s, buf))
	}
	return s.count(readResult(ctx, n, err))
}

// count passes a sock_read result through, counting the bytes it returned
// towards the socket's streaming (see lowwater.go).
func (s *hostSock) count(rc int32) int32 {
	s.delivered(int(rc))
	return rc
}

// tlsRecordWait bounds how long a poll of a TLS socket that has bytes
// waits for the rest of their record.
const tlsRecordWait = 10 * time.Millisecond

// pollRead reads what is there without waiting. On a TLS socket, plaintext
// the TLS client already decrypted comes first (a read whose deadline has
// passed returns it without touching the socket, and fails before reading
// the socket otherwise); then, when the socket has bytes (a peek), a read
// waits at most tlsRecordWait for their record. A timeout leaves the TLS
// state intact and a partly received record buffered.
func pollRead(s *hostSock, buf []byte) int32 {
	if s.tls != nil {
		n, err := readBy(s.tls, buf, time.Unix(1, 0))
		if n > 0 || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) || !readable(s.tcp) {
			return readResult(context.Background(), n, err)
		}
		n, err = readBy(s.tls, buf, time.Now().Add(tlsRecordWait))
		return readResult(context.Background(), n, err)
	}
	raw, err := s.tcp.SyscallConn()
	if err != nil {
		return -abi.EBADF
	}
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // never wait: this is a poll
	})
	if err != nil {
		return readResult(context.Background(), 0, err)
	}
	if errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR) {
		return -abi.EAGAIN
	}
	if rerr != nil {
		return readResult(context.Background(), 0, rerr)
	}
	if n <= 0 {
		return 0 // EOF
	}
	return int32(n)
}

// readBy reads from c with a read deadline, cleared afterwards.
func readBy(c net.Conn, buf []byte, deadline time.Time) (int, error) {
	_ = c.SetReadDeadline(deadline)
	n, err := c.Read(buf)
	_ = c.SetReadDeadline(time.Time{})
	return n, err
}

// readable reports whether c has bytes to read, or its end, without
// consuming them.
func readable(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true // let the read report it
	}
	var one [1]byte
	ok := true
	if err := raw.Read(func(fd uintptr) bool {
		_, _, perr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = !errors.Is(perr, syscall.EAGAIN) && !errors.Is(perr, syscall.EINTR)
		return true
	}); err != nil {
		return true
	}
	return ok
}

func readResult(ctx context.Context, n int, err error) int32 {
	if n > 0 {
		return int32(n)
	}
	switch {
	case err == nil:
		return -abi.EAGAIN
	case errors.Is(err, io.EOF):
		return 0
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return -abi.ECANCELED
		}
		return -abi.EAGAIN
	case errors.Is(err, net.ErrClosed):
		return -abi.EBADF
	case errors.Is(err, syscall.ECONNRESET):
		return -abi.ECONNRESET
	}
	return -abi.EIO
}

func hSockWrite(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	h := api.DecodeI32(s[0])
	ptr, n := api.DecodeU32(s[1]), api.DecodeU32(s[2])
	c := in.socks.get(h)
	if c == nil {
		return -abi.EBADF
	}
	buf, ok := read(mod, ptr, n)
	if !ok {
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("sock_write buffer [%d, +%d) is outside guest memory", ptr, n))
		return -abi.EFAULT
	}
	conn := c.conn()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	w, err := conn.Write(buf)
	stop()
	_ = conn.SetWriteDeadline(time.Time{})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return -abi.ECANCELED
		case errors.Is(err, syscall.EPIPE):
			return -abi.EPIPE
		case errors.Is(err, syscall.ECONNRESET):
			return -abi.ECONNRESET
		case errors.Is(err, net.ErrClosed):
			return -abi.EBADF
		}
		return -abi.EIO
	}
	return int32(w)
}

func hSockClose(_ context.Context, in *instance, _ api.Module, s []uint64) int32 {
	c := in.socks.remove(api.DecodeI32(s[0]))
	if c == nil {
		return -abi.EBADF
	}
	_ = c.Close()
	return 0
}

// maxTLSParams bounds sock_tls's parameters (a CA bundle).
const maxTLSParams = 1 << 20

// hSockTLS runs a TLS handshake on a guest's socket (abi.TLSParams) within
// the dial timeout; from then on the socket's reads and writes go through
// it, so the guest sends and receives plaintext and the host encrypts
// natively. A failed handshake returns its message's length, the message
// in the guest's buffer; the guest closes the socket.
func hSockTLS(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	c := in.socks.get(api.DecodeI32(s[0]))
	if c == nil {
		return -abi.EBADF
	}
	if c.tls != nil {
		return -abi.EINVAL
	}
	raw, ok := in.readCopy(mod, "sock_tls parameters", api.DecodeU32(s[1]), api.DecodeU32(s[2]), maxTLSParams)
	if !ok {
		return -abi.EFAULT
	}
	var p abi.TLSParams
	if err := json.Unmarshal(raw, &p); err != nil {
		return -abi.EINVAL
	}
	_ = c.tcp.SetDeadline(time.Time{})
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	tc, err := hosttls.Client(hctx, c.tcp, p)
	if err != nil {
		if ctx.Err() != nil {
			return -abi.ECANCELED
		}
		msg := err.Error()
		if len(msg) == 0 {
			return -abi.EIO
		}
		buf, ok := read(mod, api.DecodeU32(s[3]), min(api.DecodeU32(s[4]), uint32(len(msg))))
		if !ok || len(buf) == 0 {
			return -abi.EFAULT
		}
		return int32(copy(buf, msg))
	}
	c.tls = tc
	return 0
}
