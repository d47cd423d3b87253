package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// instance is one guest instance with the state its host imports use.
// Host imports run on the goroutine that runs the guest; the caller reads
// the state only after an export call returned (channel handoff), so no
// lock is needed except for the socket table, which an abandonment closes
// from another goroutine.
type instance struct {
	m         *Module
	r         *Runtime
	connector string
	op        string
	logger    hclog.Logger
	mod       api.Module
	stderr    *logWriter

	request  []byte
	result   []byte
	errEnv   []byte
	gotErr   bool
	logLines int
	fault    *guest.Error // a guest violation the host detected; wins over the guest's envelope
	denied   []string
	allow    allowList
	state    guest.StateStore
	follow   guest.Follow
	socks    sockTable

	read  *readState
	write *writeState

	abandoned bool
	// release ends the instance's use of the module's compiled code.
	release func()
}

type instanceKey struct{}

func instanceFrom(ctx context.Context) *instance {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	return in
}

// newInstance instantiates the module, runs _initialize and, on the
// module's first instance, checks rb_abi_version.
func (m *Module) newInstance(ctx context.Context, op string, inv guest.Invocation) (*instance, error) {
	r := m.r
	logger := inv.Logger
	if logger == nil {
		logger = r.logger
	}
	logger = logger.With("connector", m.manifest.ID, "op", op)
	in := &instance{m: m, r: r, connector: m.manifest.ID, op: op, logger: logger}
	in.socks.init()
	name := fmt.Sprintf("%s-%s-%d", m.manifest.ID, op, r.seq.Add(1))
	in.stderr = newLogWriter(logger, hclog.Warn, 2048)
	cfg := wazero.NewModuleConfig().
		WithName(name).
		WithStartFunctions(abi.ExportInitialize).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(newLogWriter(logger, hclog.Info, 0)).
		WithStderr(in.stderr)
	for _, k := range m.manifest.Permissions.EnvVars {
		if v, ok := os.LookupEnv(k); ok {
			cfg = cfg.WithEnv(k, v)
		}
	}
	compiled, release, err := m.acquire(ctx)
	if err != nil {
		return nil, err
	}
	in.release = release
	_, err = in.guard(ctx, func(gctx context.Context) (int32, error) {
		if r.cfg.FixedMemory {
			gctx = experimental.WithMemoryAllocator(gctx, newMemoryAllocator())
		} else {
			var alloc heapAllocator
			if st := inv.Request.Stream; st != nil {
				alloc = heapAllocator{limit: st.Limits.MaxMemoryBytes, reserve: streamMemoryReserve}
			}
			gctx = experimental.WithMemoryAllocator(gctx, alloc)
		}
		mod, err := r.wrt.InstantiateModule(gctx, compiled, cfg)
		in.mod = mod
		return 0, err
	})
	if err != nil {
		e := in.exportErr(ctx, "_initialize", 0, err)
		in.close(ctx)
		if e != nil {
			return nil, e
		}
		return nil, newError(in.connector, op, abi.CategoryInternal, "instantiate", err)
	}
	if e := in.checkABIVersion(ctx); e != nil {
		in.close(ctx)
		return nil, e
	}
	return in, nil
}

// guard runs fn (which calls into the guest) on its own goroutine and
// waits for it, or for ctx plus the runtime's grace period, after which
// the instance is abandoned and ErrAbandoned returned.
func (in *instance) guard(ctx context.Context, fn func(context.Context) (int32, error)) (int32, error) {
	if in.abandoned {
		return 0, ErrAbandoned
	}
	type result struct {
		rc  int32
		err error
	}
	ch := make(chan result, 1)
	gctx := context.WithValue(ctx, instanceKey{}, in)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("host panic during guest call: %v", p)}
			}
		}()
		rc, err := fn(gctx)
		ch <- result{rc, err}
	}()
	select {
	case res := <-ch:
		return res.rc, res.err
	case <-ctx.Done():
	}
	t := time.NewTimer(in.r.cfg.CancelGrace)
	defer t.Stop()
	select {
	case res := <-ch:
		return res.rc, res.err
	case <-t.C:
	}
	in.abandoned = true
	in.r.abandoned.Add(1)
	in.logger.Error("guest did not return after cancellation; instance abandoned", "grace", in.r.cfg.CancelGrace)
	in.socks.closeAll()
	if f := in.r.cfg.OnAbandon; f != nil {
		f(in.connector)
	}
	go func() {
		<-ch
		in.r.abandoned.Add(-1)
		if in.mod != nil {
			_ = in.mod.Close(context.Background())
		}
		in.socks.closeAll()
		in.release()
	}()
	return 0, ErrAbandoned
}

// call runs one export and returns its i32 result.
func (in *instance) call(ctx context.Context, export string) (int32, error) {
	fn := in.mod.ExportedFunction(export)
	if fn == nil {
		return 0, fmt.Errorf("module has no export %s", export)
	}
	in.errEnv, in.gotErr = nil, false
	return in.guard(ctx, func(gctx context.Context) (int32, error) {
		res, err := fn.Call(gctx)
		if err != nil {
			return 0, err
		}
		if len(res) != 1 {
			return 0, fmt.Errorf("export %s returned %d results", export, len(res))
		}
		return api.DecodeI32(res[0]), nil
	})
}

// close closes the instance and its sockets (unless abandoned, in which
// case the watcher closes the module once the guest returns).
func (in *instance) close(ctx context.Context) {
	in.socks.closeAll()
	if in.abandoned {
		return
	}
	if in.mod != nil {
		_ = in.mod.Close(ctx)
		in.mod = nil
	}
	if in.release != nil {
		in.release()
		in.release = nil
	}
}

// setFault records a guest violation; the first one wins.
func (in *instance) setFault(category, code string, err error) {
	if in.fault == nil {
		in.fault = newError(in.connector, in.op, category, code, err)
		in.logger.Warn("guest violation", "code", code, "error", err)
	}
}

// exportErr classifies the outcome of an export call; nil means success.
func (in *instance) exportErr(ctx context.Context, export string, rc int32, callErr error) *guest.Error {
	if errors.Is(callErr, ErrAbandoned) || ctx.Err() != nil {
		return in.ctxErr(ctx, export, callErr)
	}
	if in.fault != nil {
		return in.fault
	}
	if callErr != nil {
		var exit *sys.ExitError
		if errors.As(callErr, &exit) {
			return newError(in.connector, in.op, abi.CategoryInternal, "exit",
				fmt.Errorf("guest exited with code %d during %s%s", exit.ExitCode(), export, in.stderrTail()))
		}
		if reason := in.stderr.Fatal(); reason != "" {
			return newError(in.connector, in.op, abi.CategoryInternal, "crash",
				fmt.Errorf("guest crashed during %s: %s (%w)", export, reason, firstLines(callErr, 1)))
		}
		return newError(in.connector, in.op, abi.CategoryInternal, "trap",
			fmt.Errorf("guest trapped during %s: %w", export, firstLines(callErr, 6)))
	}
	if rc >= 0 {
		return nil
	}
	if !in.gotErr || len(in.errEnv) == 0 {
		return newError(in.connector, in.op, abi.CategoryInternal, "no_envelope",
			fmt.Errorf("%s returned %d without an error envelope", export, rc))
	}
	var env abi.ErrorEnvelope
	dec := json.NewDecoder(strings.NewReader(string(in.errEnv)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return newError(in.connector, in.op, abi.CategoryInternal, "bad_envelope",
			fmt.Errorf("%s failed with an undecodable error envelope: %v", export, err))
	}
	if err := env.Validate(); err != nil {
		return newError(in.connector, in.op, abi.CategoryInternal, "bad_envelope",
			fmt.Errorf("%s failed with an invalid error envelope (%v): %.200q", export, err, env.Message))
	}
	if len(in.denied) > 0 && env.Category != abi.CategoryPermission {
		e := newError(in.connector, in.op, abi.CategoryPermission, "denied",
			fmt.Errorf("dial of %s denied: not on the connector's allow-list or denied by the worker's network policy (guest reported: %s)", strings.Join(in.denied, ", "), env.Message))
		return e
	}
	return &guest.Error{Connector: in.connector, Op: in.op, Envelope: env, Err: errors.New(env.Message)}
}

// ctxErr classifies a call that ended because ctx was done.
func (in *instance) ctxErr(ctx context.Context, export string, callErr error) *guest.Error {
	suffix := ""
	if errors.Is(callErr, ErrAbandoned) {
		suffix = " (" + ErrAbandoned.Error() + ")"
	}
	cause := ctx.Err()
	if cause == nil {
		cause = callErr
	}
	if errors.Is(cause, context.Canceled) {
		e := newError(in.connector, in.op, abi.CategoryCancelled, "cancelled", fmt.Errorf("%s cancelled%s: %w", export, suffix, errors.Join(cause, callErr)))
		return e
	}
	return deadlineError(in.connector, in.op, export, in.r.cfg.CancelGrace, cause, callErr)
}

// firstLines shortens a wazero error (message plus wasm stack trace).
func firstLines(err error, n int) error {
	lines := strings.SplitN(err.Error(), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return errors.New(strings.Join(lines, "\n"))
}

func (in *instance) stderrTail() string {
	t := strings.TrimSpace(in.stderr.Tail())
	if t == "" {
		return ""
	}
	return "; stderr: " + t
}
