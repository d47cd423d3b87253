package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// closeTimeout bounds rb_close after the operation (it runs even when the
// operation's ctx is done).
const closeTimeout = 10 * time.Second

// invoke runs rb_open, the op's export and rb_close on a fresh instance.
// setup runs before rb_open; done runs after a successful op export.
func (m *Module) invoke(ctx context.Context, inv guest.Invocation, op abi.Op, export string,
	setup func(in *instance, req *abi.Request) error, done func(in *instance) error,
) (st guest.Stats, _ *instance, _ error) {
	start := time.Now()
	defer func() { st.Duration = time.Since(start) }()
	if inv.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, inv.Timeout)
		defer cancel()
	}
	req := inv.Request
	req.Op = op
	if req.ConnectorID == "" {
		req.ConnectorID = m.manifest.ID
	}
	if (op == abi.OpRead || op == abi.OpWrite) && req.Stream == nil {
		return st, nil, newError(m.manifest.ID, string(op), abi.CategoryConfig, "no_stream", errors.New("read and write need Request.Stream"))
	}
	in, err := m.newInstance(ctx, string(op), inv)
	if err != nil {
		return st, nil, err
	}
	st.LoadDuration = time.Since(start)
	in.allow = newAllowList(req.Config, m.manifest.Permissions.AllowedHosts, inv.AllowedHosts)
	in.state = inv.State
	in.follow = inv.Follow
	if setup != nil {
		if err := setup(in, &req); err != nil {
			in.close(ctx)
			return st, in, err
		}
	}
	in.request, err = json.Marshal(req)
	if err != nil {
		in.close(ctx)
		return st, in, newError(in.connector, in.op, abi.CategoryInternal, "bad_request", fmt.Errorf("encode request: %w", err))
	}

	opErr := in.run(ctx, abi.ExportOpen)
	if opErr == nil {
		opErr = in.run(ctx, export)
	}
	if opErr == nil && done != nil {
		if err := done(in); err != nil {
			opErr = asError(in, err)
		}
	}
	if !in.abandoned {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		closeErr := in.run(cctx, abi.ExportClose)
		cancel()
		if opErr == nil && closeErr != nil {
			opErr = closeErr
		}
		if closeErr != nil && opErr != closeErr {
			in.logger.Debug("rb_close failed after the operation failed", "error", closeErr)
		}
	}
	in.close(context.WithoutCancel(ctx))
	if opErr != nil {
		return st, in, opErr
	}
	return st, in, nil
}

// run calls one export and classifies its outcome.
func (in *instance) run(ctx context.Context, export string) *guest.Error {
	rc, err := in.call(ctx, export)
	if e := in.exportErr(ctx, export, rc, err); e != nil {
		return e
	}
	return nil
}

func asError(in *instance, err error) *guest.Error {
	var e *guest.Error
	if errors.As(err, &e) {
		return e
	}
	return newError(in.connector, in.op, abi.CategoryInternal, "host", err)
}

// Discover runs rb_discover and returns the validated catalog.
func (m *Module) Discover(ctx context.Context, inv guest.Invocation) (*abi.Catalog, error) {
	var cat abi.Catalog
	_, _, err := m.invoke(ctx, inv, abi.OpDiscover, abi.ExportDiscover, nil, func(in *instance) error {
		if err := json.Unmarshal(in.result, &cat); err != nil {
			return newError(in.connector, in.op, abi.CategoryInternal, "bad_result", fmt.Errorf("decode catalog: %w", err))
		}
		for _, s := range cat.Streams {
			for _, c := range s.Columns {
				if _, err := abi.ParseType(c.ArrowType); err != nil {
					return newError(in.connector, in.op, abi.CategoryInternal, "bad_result",
						fmt.Errorf("stream %q column %q: %w", s.Name, c.Name, err))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &cat, nil
}

// Check runs rb_check. On failure it returns a CheckResult with OK false
// and the failure message, together with the *guest.Error.
func (m *Module) Check(ctx context.Context, inv guest.Invocation) (*abi.CheckResult, error) {
	var res abi.CheckResult
	_, _, err := m.invoke(ctx, inv, abi.OpCheck, abi.ExportCheck, nil, func(in *instance) error {
		if err := json.Unmarshal(in.result, &res); err != nil {
			return newError(in.connector, in.op, abi.CategoryInternal, "bad_result", fmt.Errorf("decode check result: %w", err))
		}
		return nil
	})
	if err != nil {
		var e *guest.Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = e.Envelope.Message
		}
		return &abi.CheckResult{OK: false, Message: msg}, err
	}
	return &res, nil
}

// Read runs rb_read, delivering every batch (as an arrow record) and
// checkpoint to sink in order.
func (m *Module) Read(ctx context.Context, inv guest.Invocation, sink guest.ReadSink) (guest.Stats, error) {
	rs := &readState{sink: sink}
	st, in, err := m.invoke(ctx, inv, abi.OpRead, abi.ExportRead, func(in *instance, _ *abi.Request) error {
		in.read = rs
		return nil
	}, func(in *instance) error {
		return rs.finish(in)
	})
	rs.discard()
	if in != nil {
		st.Records, st.Bytes, st.Batches = rs.records, rs.bytes, rs.batches
	}
	if err != nil {
		return st, err
	}
	st.Phases = phasesOf(in)
	return st, nil
}

// phasesOf decodes the abi.StreamResult a guest may set when rb_read or
// rb_write succeeds. It is diagnostics: a guest that sets none, or an
// unreadable one, reports no phases.
func phasesOf(in *instance) map[string]time.Duration {
	if in == nil || len(in.result) == 0 {
		return nil
	}
	var res abi.StreamResult
	if err := json.Unmarshal(in.result, &res); err != nil {
		in.logger.Debug("ignoring an unreadable stream result", "error", err)
		return nil
	}
	out := make(map[string]time.Duration, len(res.PhaseSecs))
	for k, v := range res.PhaseSecs {
		if v >= 0 && v < 1e9 {
			out[k] = time.Duration(v * float64(time.Second))
		}
	}
	return out
}

// Write prefetches the first batch of src (to hand its schema to the
// guest in Request.Schema), runs rb_write and calls ack after each commit.
func (m *Module) Write(ctx context.Context, inv guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
	ws := &writeState{src: src, ack: ack}
	defer ws.discard()
	if err := ws.prefetch(ctx); err != nil {
		return guest.Stats{}, &guest.Error{Connector: m.manifest.ID, Op: string(abi.OpWrite), Envelope: sourceEnvelope(err), Err: err}
	}
	st, in, err := m.invoke(ctx, inv, abi.OpWrite, abi.ExportWrite, func(in *instance, req *abi.Request) error {
		in.write = ws
		return ws.setup(in, req)
	}, func(in *instance) error {
		return ws.finish(in)
	})
	if in != nil {
		st.Records, st.Bytes, st.Batches = ws.records, ws.bytes, ws.batches
	}
	if err != nil {
		return st, err
	}
	st.Phases = phasesOf(in)
	return st, nil
}

// sourceEnvelope classifies an error from a guest.WriteSource or guest.ReadSink.
func sourceEnvelope(err error) abi.ErrorEnvelope {
	var e *guest.Error
	if errors.As(err, &e) {
		return e.Envelope
	}
	if errors.Is(err, context.Canceled) {
		return abi.NewErrorEnvelope(abi.CategoryCancelled, "cancelled", err.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return abi.NewErrorEnvelope(abi.CategoryTransientNetwork, "stream", err.Error())
	}
	return abi.NewErrorEnvelope(abi.CategoryTransientNetwork, "stream", err.Error())
}
