package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/hosttls"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

// NativeHarness runs a connector in-process through the same dispatch code
// as the wasm exports, against a native host: real TCP sockets (no
// allow-list), an in-memory state store, batches encoded as frames.
type NativeHarness struct {
	// Connector is the connector under test.
	Connector sdk.Connector
	// ID is the connector id put in requests (default "native").
	ID string
	// Logf receives connector logs (optional, e.g. t.Logf).
	Logf func(format string, args ...any)

	mu    sync.Mutex
	calls []string
	state map[string][]byte
}

var _ Harness = (*NativeHarness)(nil)

// Calls returns the lifecycle exports called so far ("rb_open", ...).
func (h *NativeHarness) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// nativeHost implements rt.Host for one instance.
type nativeHost struct {
	h         *NativeHarness
	op        abi.Op
	req       []byte
	result    []byte
	errEnv    []byte
	cancelled atomic.Bool

	schema  *batch.Schema
	events  []Event
	hostErr error

	inputs  []Batch
	next    int
	commits []Commit
	lastCP  *abi.Checkpoint

	sockMu sync.Mutex
	socks  map[int32]net.Conn
	nextFD int32
}

func (h *NativeHarness) run(ctx context.Context, op abi.Op, export string, req abi.Request, inputs []Batch) (*nativeHost, error) {
	if h.ID == "" {
		h.ID = "native"
	}
	req.Op, req.ConnectorID = op, h.ID
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	nh := &nativeHost{h: h, op: op, req: raw, inputs: inputs, socks: map[int32]net.Conn{}}
	if req.Schema != nil {
		if nh.schema, err = batch.NewSchema(req.Schema.Fields); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { nh.cancelled.Store(true) })
	defer stop()
	defer nh.closeSockets()
	call := func(name string) error {
		h.mu.Lock()
		h.calls = append(h.calls, name)
		h.mu.Unlock()
		nh.errEnv = nil
		if rc := rt.Dispatch(nh, h.Connector, name); rc < 0 {
			return nh.failure(name)
		}
		return nh.hostErr
	}
	if rc := rt.Dispatch(nh, h.Connector, abi.ExportABIVersion); rc != abi.Version {
		return nil, fmt.Errorf("rb_abi_version returned %d", rc)
	}
	opErr := call(abi.ExportOpen)
	if opErr == nil {
		opErr = call(export)
	}
	closeErr := call(abi.ExportClose)
	if opErr != nil {
		return nh, opErr
	}
	return nh, closeErr
}

// failure turns the envelope handed to set_error into an *sdk.Error.
func (nh *nativeHost) failure(export string) error {
	if nh.hostErr != nil {
		return nh.hostErr
	}
	if len(nh.errEnv) == 0 {
		return sdk.InternalError(fmt.Errorf("%s failed without an error envelope", export))
	}
	var env abi.ErrorEnvelope
	if err := json.Unmarshal(nh.errEnv, &env); err != nil {
		return sdk.InternalError(fmt.Errorf("%s failed with an undecodable envelope: %w", export, err))
	}
	if err := env.Validate(); err != nil {
		return sdk.InternalError(fmt.Errorf("%s failed with an invalid envelope: %w", export, err))
	}
	return &sdk.Error{Envelope: env}
}

// Discover implements Harness.
func (h *NativeHarness) Discover(ctx context.Context, config json.RawMessage) (*abi.Catalog, error) {
	return h.DiscoverNamed(ctx, config, nil)
}

// DiscoverNamed runs a discover that asks for the named streams only, as a
// coordinator planning a pipeline does (see sdk.NamedDiscoverer).
func (h *NativeHarness) DiscoverNamed(ctx context.Context, config json.RawMessage, names []string) (*abi.Catalog, error) {
	nh, err := h.run(ctx, abi.OpDiscover, abi.ExportDiscover, abi.Request{Config: config, Names: names}, nil)
	if err != nil {
		return nil, err
	}
	var cat abi.Catalog
	if err := json.Unmarshal(nh.result, &cat); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	return &cat, nil
}

// Check implements Harness.
func (h *NativeHarness) Check(ctx context.Context, config json.RawMessage) error {
	_, err := h.run(ctx, abi.OpCheck, abi.ExportCheck, abi.Request{Config: config}, nil)
	return err
}

// Read implements Harness.
func (h *NativeHarness) Read(ctx context.Context, req ReadRequest) (*ReadResult, error) {
	stream := req.Stream
	nh, err := h.run(ctx, abi.OpRead, abi.ExportRead, abi.Request{Config: req.Config, Stream: &stream, Resume: req.Resume}, nil)
	if nh == nil {
		return nil, err
	}
	return &ReadResult{Events: nh.events}, err
}

// Write implements Harness.
func (h *NativeHarness) Write(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	stream := req.Stream
	r := abi.Request{Config: req.Config, Stream: &stream}
	if req.Schema != nil {
		r.Schema = &abi.SchemaEnvelope{Fields: req.Schema}
	}
	nh, err := h.run(ctx, abi.OpWrite, abi.ExportWrite, r, req.Batches)
	if nh == nil {
		return nil, err
	}
	res := &WriteResult{Commits: nh.commits, Delivered: nh.next}
	if err == nil && nh.next < len(req.Batches) {
		err = sdk.InternalError(fmt.Errorf("destination returned after %d of %d batches", nh.next, len(req.Batches)))
	}
	return res, err
}

func (nh *nativeHost) GetRequest(buf []byte) int32 {
	if len(nh.req) <= len(buf) {
		copy(buf, nh.req)
	}
	return int32(len(nh.req))
}

func (nh *nativeHost) SetResult(p []byte) int32 { nh.result = append([]byte(nil), p...); return 0 }
func (nh *nativeHost) SetError(p []byte) int32  { nh.errEnv = append([]byte(nil), p...); return 0 }

func (nh *nativeHost) Log(level int32, p []byte) int32 {
	if nh.h.Logf != nil {
		nh.h.Logf("[%s] %s", abi.LogLevel(level), strings.ReplaceAll(string(p), "\x00", " "))
	}
	return 0
}

func (nh *nativeHost) EmitSchema(p []byte) int32 {
	var env abi.SchemaEnvelope
	if err := json.Unmarshal(p, &env); err != nil {
		nh.hostErr = sdk.InternalError(fmt.Errorf("emit_schema: %w", err))
		return -abi.EINVAL
	}
	s, err := batch.NewSchema(env.Fields)
	if err != nil || nh.schema != nil {
		nh.hostErr = sdk.InternalError(fmt.Errorf("emit_schema (twice=%v): %v", nh.schema != nil, err))
		return -abi.EINVAL
	}
	nh.schema = s
	nh.events = append(nh.events, Event{Kind: EventSchema, Schema: env.Fields})
	return 0
}

func (nh *nativeHost) EmitBatch(rows int, nodes []batch.Node, bufs [][]byte) int32 {
	if nh.schema == nil {
		nh.hostErr = sdk.InternalError(errors.New("emit_batch before emit_schema"))
		return -abi.EINVAL
	}
	if err := batch.Validate(nh.schema, rows, nodes, bufs); err != nil {
		nh.hostErr = sdk.InternalError(fmt.Errorf("emit_batch: %w", err))
		return -abi.EINVAL
	}
	frame := batch.EncodeFrame(nil, rows, nodes, bufs, nil)
	nh.events = append(nh.events, Event{Kind: EventBatch, Frame: frame, Rows: rows})
	return 0
}

func (nh *nativeHost) NextBatch(buf []byte) int32 {
	if nh.next >= len(nh.inputs) {
		return 0
	}
	in := nh.inputs[nh.next]
	frame := in.Frame
	if in.Checkpoint != nil {
		// Re-encode with the checkpoint as frame metadata.
		rows, nodes, bufs, _, err := batch.ParseFrame(frame, nh.schema, nil, nil)
		if err != nil {
			nh.hostErr = fmt.Errorf("input batch %d: %w", nh.next, err)
			return -abi.EINVAL
		}
		meta, _ := json.Marshal(in.Checkpoint)
		frame = batch.EncodeFrame(nil, rows, nodes, bufs, meta)
	}
	if len(frame) > len(buf) {
		return int32(len(frame))
	}
	copy(buf, frame)
	if in.Checkpoint != nil {
		nh.lastCP = in.Checkpoint
	}
	nh.next++
	return int32(len(frame))
}

func (nh *nativeHost) Checkpoint(p []byte) int32 {
	if nh.op == abi.OpWrite {
		nh.commits = append(nh.commits, Commit{Batches: nh.next, Records: nh.deliveredRows(), Checkpoint: nh.lastCP})
		return 0
	}
	var cp abi.Checkpoint
	if err := json.Unmarshal(p, &cp); err != nil {
		nh.hostErr = sdk.InternalError(fmt.Errorf("checkpoint: %w", err))
		return -abi.EINVAL
	}
	nh.events = append(nh.events, Event{Kind: EventCheckpoint, Checkpoint: &cp})
	return 0
}

func (nh *nativeHost) deliveredRows() uint64 {
	n := uint64(0)
	for _, b := range nh.inputs[:nh.next] {
		if rows, _, _, _, err := batch.ParseFrame(b.Frame, nh.schema, nil, nil); err == nil {
			n += uint64(rows)
		}
	}
	return n
}

func (nh *nativeHost) StateGet(key string, buf []byte) int32 {
	nh.h.mu.Lock()
	defer nh.h.mu.Unlock()
	v, ok := nh.h.state[key]
	if !ok {
		return -abi.ENOENT
	}
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return int32(len(v))
}

func (nh *nativeHost) StatePut(key string, val []byte) int32 {
	nh.h.mu.Lock()
	defer nh.h.mu.Unlock()
	if nh.h.state == nil {
		nh.h.state = map[string][]byte{}
	}
	nh.h.state[key] = append([]byte(nil), val...)
	return 0
}

func (nh *nativeHost) SockConnect(addr string) int32 {
	c, err := net.DialTimeout("tcp", addr, 15*time.Second)
	if err != nil {
		return -abi.ECONNREFUSED
	}
	nh.sockMu.Lock()
	defer nh.sockMu.Unlock()
	nh.nextFD++
	nh.socks[nh.nextFD] = c
	return nh.nextFD
}

func (nh *nativeHost) sock(h int32) net.Conn {
	nh.sockMu.Lock()
	defer nh.sockMu.Unlock()
	return nh.socks[h]
}

func (nh *nativeHost) SockRead(h int32, buf []byte, timeoutMs int32) int32 {
	c := nh.sock(h)
	if c == nil {
		return -abi.EBADF
	}
	if nh.cancelled.Load() {
		return -abi.ECANCELED
	}
	wait := time.Millisecond
	if timeoutMs > 0 {
		wait = time.Duration(timeoutMs) * time.Millisecond
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	switch {
	case n > 0:
		return int32(n)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return -abi.EAGAIN
	case errors.Is(err, io.EOF):
		return 0
	}
	return -abi.EIO
}

func (nh *nativeHost) SockWrite(h int32, p []byte) int32 {
	c := nh.sock(h)
	if c == nil {
		return -abi.EBADF
	}
	_ = c.SetWriteDeadline(time.Time{})
	n, err := c.Write(p)
	if err != nil {
		return -abi.EPIPE
	}
	return int32(n)
}

func (nh *nativeHost) SockTLS(h int32, params, msg []byte) int32 {
	c := nh.sock(h)
	if c == nil {
		return -abi.EBADF
	}
	var p abi.TLSParams
	if err := json.Unmarshal(params, &p); err != nil {
		return -abi.EINVAL
	}
	_ = c.SetDeadline(time.Time{}) // SockRead leaves its poll deadline
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tc, err := hosttls.Client(ctx, c, p)
	if err != nil {
		if n := copy(msg, err.Error()); n > 0 {
			return int32(n)
		}
		return -abi.EIO
	}
	nh.sockMu.Lock()
	defer nh.sockMu.Unlock()
	nh.socks[h] = tc
	return 0
}

func (nh *nativeHost) SockClose(h int32) int32 {
	nh.sockMu.Lock()
	c := nh.socks[h]
	delete(nh.socks, h)
	nh.sockMu.Unlock()
	if c == nil {
		return -abi.EBADF
	}
	_ = c.Close()
	return 0
}

func (nh *nativeHost) closeSockets() {
	nh.sockMu.Lock()
	defer nh.sockMu.Unlock()
	for h, c := range nh.socks {
		_ = c.Close()
		delete(nh.socks, h)
	}
}

func (nh *nativeHost) IsCancelled() int32 {
	if nh.cancelled.Load() {
		return 1
	}
	return 0
}
