// Package rt is the SDK's seam between connector-facing code and the host:
// the Host interface mirrors the rapidbyte imports one for one (results are
// the raw i32 of each import: >= 0 success, negative -errno). The wasip1
// build sets Default to the import-backed host; sdktest supplies a native
// host per run through the context.
package rt

import (
	"context"

	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// Host mirrors the rapidbyte host imports (see package abi).
type Host interface {
	GetRequest(buf []byte) int32
	SetResult(p []byte) int32
	SetError(p []byte) int32
	Log(level int32, p []byte) int32
	EmitSchema(p []byte) int32
	// EmitBatch hands one batch to the host; the wasm host builds the
	// descriptor from the buffers' addresses.
	EmitBatch(rows int, nodes []batch.Node, bufs [][]byte) int32
	NextBatch(buf []byte) int32
	Checkpoint(p []byte) int32
	StateGet(key string, buf []byte) int32
	StatePut(key string, val []byte) int32
	SockConnect(addr string) int32
	SockRead(h int32, buf []byte, timeoutMs int32) int32
	SockWrite(h int32, p []byte) int32
	SockClose(h int32) int32
	// SockTLS runs sock_tls with the TLSParams JSON params; msg receives a
	// failed handshake's message.
	SockTLS(h int32, params, msg []byte) int32
	IsCancelled() int32
}

// Follower is implemented by hosts that serve the follow_state import
// (the wasm host; a native test host may not).
type Follower interface {
	FollowState(buf []byte) int32
}

// Default is the host of a wasm guest (nil in native builds).
var Default Host

// Dispatch runs one guest export (abi.Export*) of connector c (an
// sdk.Connector) against h. Package sdk sets it in its init.
var Dispatch func(h Host, c any, export string) int32

type ctxKey struct{}

// WithHost returns ctx carrying h.
func WithHost(ctx context.Context, h Host) context.Context {
	return context.WithValue(ctx, ctxKey{}, h)
}

// FromContext returns the host carried by ctx, else Default (nil when
// neither is set, natively outside sdktest).
func FromContext(ctx context.Context) Host {
	if ctx != nil {
		if h, ok := ctx.Value(ctxKey{}).(Host); ok {
			return h
		}
	}
	return Default
}
