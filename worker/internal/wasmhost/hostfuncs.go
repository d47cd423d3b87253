package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Limits on guest-provided sizes the host copies.
const (
	maxRequestBytes  = 64 << 20
	maxEnvelopeBytes = 1 << 20
	maxLogBytes      = 64 << 10
	maxLogLines      = 10000 // per instance
	maxSchemaBytes   = 4 << 20
	maxStateBytes    = 16 << 20
)

type hostFunc struct {
	name    string
	params  int
	fn      func(ctx context.Context, in *instance, mod api.Module, s []uint64) int32
	noState bool
}

var i32 = api.ValueTypeI32

// instantiateHostModule registers the rapidbyte imports. Every function
// decodes its i32 arguments with api.DecodeU32/DecodeI32, fails fast with
// -ECANCELED once ctx is done, and bounds-checks every guest range.
func instantiateHostModule(ctx context.Context, wrt wazero.Runtime) error {
	funcs := []hostFunc{
		{abi.ImportGetRequest, 2, hGetRequest, false},
		{abi.ImportSetResult, 2, hSetResult, false},
		{abi.ImportSetError, 2, hSetError, true},
		{abi.ImportLog, 3, hLog, true},
		{abi.ImportEmitSchema, 2, hEmitSchema, false},
		{abi.ImportEmitBatch, 2, hEmitBatch, false},
		{abi.ImportNextBatch, 2, hNextBatch, false},
		{abi.ImportCheckpoint, 2, hCheckpoint, false},
		{abi.ImportStateGet, 4, hStateGet, false},
		{abi.ImportStatePut, 4, hStatePut, false},
		{abi.ImportSockConnect, 2, hSockConnect, false},
		{abi.ImportSockRead, 4, hSockRead, false},
		{abi.ImportSockWrite, 3, hSockWrite, false},
		{abi.ImportSockClose, 1, hSockClose, true},
		{abi.ImportSockTLS, 5, hSockTLS, false},
		{abi.ImportIsCancelled, 0, hIsCancelled, true},
		{abi.ImportFollowState, 2, hFollowState, false},
		{abi.ImportWireRows, 3, hWireRows, true},
	}
	b := wrt.NewHostModuleBuilder(abi.HostModule)
	for _, f := range funcs {
		f := f
		params := make([]api.ValueType, f.params)
		for i := range params {
			params[i] = i32
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				in := instanceFrom(ctx)
				var rc int32
				switch {
				case in == nil:
					rc = -abi.EINVAL
				case !f.noState && ctx.Err() != nil:
					rc = -abi.ECANCELED
				default:
					rc = f.fn(ctx, in, mod, stack)
				}
				stack[0] = api.EncodeI32(rc)
			}), params, []api.ValueType{i32}).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// read returns a copy-free view of guest memory [ptr, ptr+n), or false when
// out of range. The view is valid only during the host call.
func read(mod api.Module, ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return mod.Memory().Read(ptr, n)
}

// readCopy copies guest memory [ptr, ptr+n) after checking n against max.
func (in *instance) readCopy(mod api.Module, what string, ptr, n, max uint32) ([]byte, bool) {
	if n > max {
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("%s of %d bytes exceeds the %d-byte limit", what, n, max))
		return nil, false
	}
	b, ok := read(mod, ptr, n)
	if !ok {
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("%s range [%d, +%d) is outside guest memory", what, ptr, n))
		return nil, false
	}
	return bytes.Clone(b), true
}

// give copies data into the guest buffer (buf, capacity) when it fits and
// returns len(data) either way (the grow-and-retry protocol).
func (in *instance) give(mod api.Module, what string, data []byte, buf, capacity uint32) int32 {
	if len(data) > int(^uint32(0)>>1) {
		return -abi.EINVAL
	}
	if uint32(len(data)) <= capacity && len(data) > 0 {
		if !mod.Memory().Write(buf, data) {
			in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("%s buffer [%d, +%d) is outside guest memory", what, buf, len(data)))
			return -abi.EFAULT
		}
	}
	return int32(len(data))
}

func hGetRequest(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	return in.give(mod, "get_request", in.request, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
}

func hSetResult(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	b, ok := in.readCopy(mod, "set_result", api.DecodeU32(s[0]), api.DecodeU32(s[1]), maxRequestBytes)
	if !ok {
		return -abi.EFAULT
	}
	in.result = b
	return 0
}

func hSetError(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	b, ok := in.readCopy(mod, "set_error", api.DecodeU32(s[0]), api.DecodeU32(s[1]), maxEnvelopeBytes)
	if !ok {
		return -abi.EFAULT
	}
	in.errEnv, in.gotErr = b, true
	return 0
}

func hLog(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	if in.logLines++; in.logLines > maxLogLines {
		if in.logLines == maxLogLines+1 {
			in.logger.Warn("guest log limit reached; dropping further guest logs", "limit", maxLogLines)
		}
		return 0
	}
	level := api.DecodeI32(s[0])
	ptr, n := api.DecodeU32(s[1]), api.DecodeU32(s[2])
	if n > maxLogBytes {
		n = maxLogBytes
	}
	b, ok := read(mod, ptr, n)
	if !ok {
		return -abi.EFAULT
	}
	parts := bytes.Split(b, []byte{0})
	args := make([]any, 0, len(parts)-1)
	for _, p := range parts[1:] {
		args = append(args, string(p))
	}
	if len(args)%2 == 1 {
		args = append(args, "")
	}
	lvl := hclog.Level(level)
	if lvl < hclog.Trace || lvl > hclog.Error {
		lvl = hclog.Info
	}
	in.logger.Log(lvl, string(parts[0]), args...)
	return 0
}

func hIsCancelled(ctx context.Context, _ *instance, _ api.Module, _ []uint64) int32 {
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

func hFollowState(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
	if in.follow == nil {
		return -abi.ENOENT
	}
	b, err := json.Marshal(in.follow.State())
	if err != nil {
		return -abi.EINVAL
	}
	return in.give(mod, "follow_state", b, api.DecodeU32(s[0]), api.DecodeU32(s[1]))
}

func hStateGet(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	key, ok := in.readCopy(mod, "state_get key", api.DecodeU32(s[0]), api.DecodeU32(s[1]), 4096)
	if !ok {
		return -abi.EFAULT
	}
	val, found, err := in.stateStore().Get(ctx, string(key))
	if err != nil {
		in.logger.Warn("state_get failed", "key", string(key), "error", err)
		return -abi.EIO
	}
	if !found {
		return -abi.ENOENT
	}
	return in.give(mod, "state_get", val, api.DecodeU32(s[2]), api.DecodeU32(s[3]))
}

func hStatePut(ctx context.Context, in *instance, mod api.Module, s []uint64) int32 {
	key, ok := in.readCopy(mod, "state_put key", api.DecodeU32(s[0]), api.DecodeU32(s[1]), 4096)
	if !ok {
		return -abi.EFAULT
	}
	val, ok := in.readCopy(mod, "state_put value", api.DecodeU32(s[2]), api.DecodeU32(s[3]), maxStateBytes)
	if !ok {
		return -abi.EFAULT
	}
	if err := in.stateStore().Put(ctx, string(key), val); err != nil {
		in.logger.Warn("state_put failed", "key", string(key), "error", err)
		return -abi.EIO
	}
	return 0
}

func (in *instance) stateStore() guest.StateStore {
	if in.state == nil {
		in.state = &memState{m: map[string][]byte{}}
	}
	return in.state
}

// memState is the default per-invocation guest.StateStore.
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memState) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *memState) Put(_ context.Context, key string, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = val
	return nil
}

// logWriter forwards guest stdout/stderr lines to the logger and keeps the
// last tail bytes for error messages.
type logWriter struct {
	mu     sync.Mutex
	logger hclog.Logger
	level  hclog.Level
	line   []byte
	tail   []byte
	keep   int
	fatal  string // first "fatal error:" or "panic:" line
}

func newLogWriter(logger hclog.Logger, level hclog.Level, keep int) *logWriter {
	return &logWriter{logger: logger, level: level, keep: keep}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keep > 0 {
		w.tail = append(w.tail, p...)
		if len(w.tail) > w.keep {
			w.tail = append(w.tail[:0], w.tail[len(w.tail)-w.keep:]...)
		}
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		line := string(w.line[:i])
		if w.fatal == "" && (strings.HasPrefix(line, "fatal error:") || strings.HasPrefix(line, "panic:")) {
			w.fatal = line
		}
		w.logger.Log(w.level, "guest output", "line", line)
		w.line = w.line[i+1:]
	}
	if len(w.line) > 8192 {
		w.logger.Log(w.level, "guest output", "line", string(w.line))
		w.line = w.line[:0]
	}
	return len(p), nil
}

// Fatal returns the first Go runtime "fatal error:" or "panic:" line
// written, or "".
func (w *logWriter) Fatal() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fatal
}

// Tail returns the last bytes written.
func (w *logWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.tail)
}
