package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

// served is the connector registered by Serve.
//
//lint:ignore U1000 read by the wasip1 exports (exports_wasip1.go)
var served *Connector

// Serve registers the connector run by this module's rb_* exports. Call it
// from the connector's init. Calling it again replaces the connector.
func Serve(c Connector) { served = &c }

func init() {
	rt.Dispatch = func(h rt.Host, c any, export string) int32 {
		conn, ok := c.(Connector)
		if !ok {
			if p, isPtr := c.(*Connector); isPtr && p != nil {
				conn, ok = *p, true
			}
		}
		if !ok {
			return fail(h, errorf(abi.CategoryInternal, "no_connector", "dispatch of %T, want sdk.Connector", c))
		}
		return dispatch(h, conn, export)
	}
}

// session is the state of one guest instance between export calls.
type session struct {
	h      rt.Host
	req    abi.Request
	src    Source
	dst    Destination
	opened bool
	phases phases // recorded through the ctx of Open, Read and Write
}

var (
	sessionsMu sync.Mutex
	sessions   = map[rt.Host]*session{}
)

func getSession(h rt.Host) *session {
	sessionsMu.Lock()
	defer sessionsMu.Unlock()
	return sessions[h]
}

// dispatch runs one export; it never panics and never fails silently.
func dispatch(h rt.Host, c Connector, export string) (rc int32) {
	defer func() {
		if p := recover(); p != nil {
			rc = fail(h, errorf(abi.CategoryInternal, "panic", "connector panicked in %s: %v\n%s", export, p, trimStack(debug.Stack())))
		}
	}()
	if export == abi.ExportABIVersion {
		return abi.Version
	}
	if export == abi.ExportOpen {
		return open(h, c)
	}
	s := getSession(h)
	if s == nil {
		return fail(h, errorf(abi.CategoryInternal, "not_open", "%s called before rb_open", export))
	}
	ctx, stop := s.context()
	defer stop()
	switch export {
	case abi.ExportDiscover:
		if s.src == nil {
			return fail(h, errorf(abi.CategoryConfig, "unsupported", "connector %q is not a source: discover is not supported", s.req.ConnectorID))
		}
		var cat *abi.Catalog
		var err error
		if nd, ok := s.src.(NamedDiscoverer); ok && len(s.req.Names) > 0 {
			cat, err = nd.DiscoverNamed(ctx, s.req.Names)
		} else {
			cat, err = s.src.Discover(ctx)
		}
		if err != nil {
			return failCtx(ctx, h, err)
		}
		if cat == nil {
			cat = &abi.Catalog{}
		}
		return setResult(h, cat)
	case abi.ExportCheck:
		if s.req.Release != "" {
			return release(ctx, h, s)
		}
		var err error
		var conn any = s.dst
		if s.src != nil {
			conn, err = s.src, s.src.Check(ctx)
		} else {
			err = s.dst.Check(ctx)
		}
		if err != nil {
			return failCtx(ctx, h, err)
		}
		msg := "ok"
		if n, ok := conn.(CheckNoter); ok && n.CheckNote() != "" {
			msg = n.CheckNote()
		}
		if sc, ok := s.dst.(StreamChecker); ok && s.src == nil && len(s.req.Streams) > 0 {
			var drift string
			if drift, err = sc.CheckStreams(ctx, s.req.Streams); err != nil {
				return failCtx(ctx, h, err)
			}
			switch {
			case drift == "":
			case msg == "ok":
				msg = drift
			default:
				msg += "; " + drift
			}
		}
		return setResult(h, abi.CheckResult{OK: true, Message: msg})
	case abi.ExportRead:
		if s.src == nil || s.req.Stream == nil {
			return fail(h, errorf(abi.CategoryConfig, "unsupported", "read needs a source connector and a stream"))
		}
		e := newEmitter(s)
		if err := s.src.Read(ctx, e.req, e); err != nil {
			return failCtx(ctx, h, err)
		}
		return setResult(h, s.phases.result())
	case abi.ExportWrite:
		if s.dst == nil || s.req.Stream == nil {
			return fail(h, errorf(abi.CategoryConfig, "unsupported", "write needs a destination connector and a stream"))
		}
		it, req, err := newIterator(s)
		if err != nil {
			return fail(h, err)
		}
		if err := s.dst.Write(ctx, req, it); err != nil {
			return failCtx(ctx, h, err)
		}
		return setResult(h, s.phases.result())
	case abi.ExportClose:
		sessionsMu.Lock()
		delete(sessions, h)
		sessionsMu.Unlock()
		var err error
		switch {
		case !s.opened:
		case s.src != nil:
			err = s.src.Close(ctx)
		default:
			err = s.dst.Close(ctx)
		}
		if err != nil {
			return failCtx(ctx, h, err)
		}
		return 0
	}
	return fail(h, errorf(abi.CategoryInternal, "unknown_export", "unknown export %q", export))
}

func open(h rt.Host, c Connector) int32 {
	s := &session{h: h}
	buf := make([]byte, 4096)
	for {
		n := h.GetRequest(buf)
		if n < 0 {
			return fail(h, hostError("get_request", n))
		}
		if int(n) <= len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, n)
	}
	if err := json.Unmarshal(buf, &s.req); err != nil {
		return fail(h, errorf(abi.CategoryInternal, "bad_request", "decode request: %v", err))
	}
	useDst := s.req.Op == abi.OpWrite || c.Source == nil || s.req.Role == abi.RoleDestination
	switch {
	case useDst && c.Destination != nil:
		s.dst = c.Destination
	case !useDst && c.Source != nil:
		s.src = c.Source
	default:
		return fail(h, errorf(abi.CategoryConfig, "unsupported", "connector %q does not support %s", s.req.ConnectorID, s.req.Op))
	}
	if s.req.Op == abi.OpDiscover && s.src == nil {
		return fail(h, errorf(abi.CategoryConfig, "unsupported", "connector %q is not a source: discover is not supported", s.req.ConnectorID))
	}
	sessionsMu.Lock()
	sessions[h] = s
	sessionsMu.Unlock()
	ctx, stop := s.context()
	defer stop()
	s.opened = true
	var err error
	if s.src != nil {
		err = s.src.Open(ctx, Config{raw: s.req.Config})
	} else {
		err = s.dst.Open(ctx, Config{raw: s.req.Config})
	}
	if err != nil {
		return failCtx(ctx, h, err)
	}
	return 0
}

// context returns the ctx of one export call: it carries the host and is
// cancelled once the host reports cancellation (polled every 50 ms while the
// guest yields) or when stop is called.
func (s *session) context() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithValue(rt.WithHost(context.Background(), s.h), phasesKey{}, &s.phases))
	if s.h.IsCancelled() == 1 {
		cancel()
		return ctx, cancel
	}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.h.IsCancelled() == 1 {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

func setResult(h rt.Host, v any) int32 {
	b, err := json.Marshal(v)
	if err != nil {
		return fail(h, errorf(abi.CategoryInternal, "bad_result", "encode result: %v", err))
	}
	if rc := h.SetResult(b); rc < 0 {
		return fail(h, hostError("set_result", rc))
	}
	return 0
}

// failCtx reports err, classifying a context error as cancelled when the
// host cancelled.
func failCtx(ctx context.Context, h rt.Host, err error) int32 {
	e := Classify(err)
	if ctx.Err() != nil && h.IsCancelled() == 1 && e.Envelope.Category == abi.CategoryInternal {
		e = CancelledError(err)
	}
	return fail(h, e)
}

// fail hands the classified envelope of err to the host and returns -1.
func fail(h rt.Host, err error) int32 {
	env := Classify(err).Envelope
	if verr := env.Validate(); verr != nil {
		env = abi.NewErrorEnvelope(abi.CategoryInternal, "bad_envelope",
			fmt.Sprintf("connector returned an invalid error (%v): %s", verr, env.Message))
	}
	b, mErr := json.Marshal(env)
	if mErr != nil {
		b = []byte(`{"category":"internal","code":"bad_envelope","message":"unencodable error"}`)
	}
	h.SetError(b)
	return -1
}

// hostError converts a failed import result into an Error.
func hostError(name string, rc int32) *Error {
	errno := -rc
	err := fmt.Errorf("host call %s failed: errno %d", name, errno)
	switch errno {
	case abi.ECANCELED:
		return CancelledError(err, WithCode("cancelled"))
	case abi.EACCES:
		return PermissionError(err, WithCode("denied"))
	case abi.ETIMEDOUT, abi.ECONNREFUSED, abi.ECONNRESET, abi.EHOSTUNREACH, abi.EPIPE:
		return TransientNetworkError(err, WithCode("network"))
	}
	return InternalError(err, WithCode("host_call_failed"))
}

func trimStack(b []byte) []byte {
	if len(b) > 4096 {
		return b[:4096]
	}
	return b
}

// errHost reports SDK calls made without a host in ctx.
var errHost = errors.New("sdk: no host in context (use the ctx the SDK passed to the connector)")

// release runs a release-mode check (abi.Request.Release).
func release(ctx context.Context, h rt.Host, s *session) int32 {
	r, ok := s.src.(Releaser)
	if !ok {
		return fail(h, errorf(abi.CategoryConfig, "unsupported", "connector %q holds nothing on the server to release", s.req.ConnectorID))
	}
	msg, err := r.Release(ctx, s.req.Release)
	if err != nil {
		return failCtx(ctx, h, err)
	}
	return setResult(h, abi.CheckResult{OK: true, Message: msg})
}
