// Package wasmguest adapts the wazero host (package wasmhost) to the
// worker's guest interfaces: it converts invocations and stats, and turns
// every *wasmhost.Error into a *guest.Error so the transport can classify
// it without depending on the host.
package wasmguest

import (
	"context"
	"errors"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// Runtime wraps a wasmhost.Runtime.
type Runtime struct{ rt *wasmhost.Runtime }

// New creates the wasm runtime.
func New(ctx context.Context, cfg wasmhost.Config) (*Runtime, error) {
	rt, err := wasmhost.New(ctx, cfg)
	if err != nil {
		return nil, convertErr(err)
	}
	return &Runtime{rt: rt}, nil
}

// LoadBytes compiles module bytes whose digest the caller verified.
func (r *Runtime) LoadBytes(ctx context.Context, wasm []byte, digest string) (guest.Module, error) {
	m, err := r.rt.LoadVerified(ctx, wasm, digest)
	if err != nil {
		return nil, convertErr(err)
	}
	return module{m}, nil
}

// Precompile compiles and checks module bytes whose digest the caller
// verified into the compilation cache, without keeping them loaded.
func (r *Runtime) Precompile(ctx context.Context, wasm []byte, digest string) error {
	return convertErr(r.rt.Precompile(ctx, wasm, digest))
}

// Compiled reports whether the compilation cache holds the module with
// digest, so loading it will not compile it.
func (r *Runtime) Compiled(digest string) bool { return r.rt.Compiled(digest) }

// Abandoned returns the number of guest instances that did not return
// after cancellation and still run.
func (r *Runtime) Abandoned() int64 { return r.rt.Abandoned() }

// Close closes the runtime and every module.
func (r *Runtime) Close(ctx context.Context) error { return r.rt.Close(ctx) }

type module struct{ m *wasmhost.Module }

var _ guest.Module = module{}

func (m module) Manifest() abi.Manifest { return m.m.Manifest() }
func (m module) Digest() string         { return m.m.Digest() }

func (m module) Discover(ctx context.Context, inv guest.Invocation) (*abi.Catalog, error) {
	c, err := m.m.Discover(ctx, invocation(inv))
	return c, convertErr(err)
}

func (m module) Check(ctx context.Context, inv guest.Invocation) (*abi.CheckResult, error) {
	c, err := m.m.Check(ctx, invocation(inv))
	return c, convertErr(err)
}

func (m module) Read(ctx context.Context, inv guest.Invocation, sink guest.ReadSink) (guest.Stats, error) {
	s, err := m.m.Read(ctx, invocation(inv), sink)
	return guest.Stats(s), convertErr(err)
}

func (m module) Write(ctx context.Context, inv guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
	s, err := m.m.Write(ctx, invocation(inv), src, wasmhost.AckFunc(ack))
	return guest.Stats(s), convertErr(err)
}

func invocation(inv guest.Invocation) wasmhost.Invocation {
	return wasmhost.Invocation{Request: inv.Request, AllowedHosts: inv.AllowedHosts, Timeout: inv.Timeout, Logger: inv.Logger}
}

// convertErr turns a *wasmhost.Error into a *guest.Error, keeping its cause.
func convertErr(err error) error {
	var he *wasmhost.Error
	if !errors.As(err, &he) {
		return err
	}
	return &guest.Error{Connector: he.Connector, Op: he.Op, Envelope: he.Envelope, Err: he.Err}
}
