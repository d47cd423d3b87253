// Package guesttest provides hand-written fakes of guest.Module and of a
// module loader, and builds tiny wasm files that carry a manifest, for tests
// of the worker's packages.
package guesttest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// Module is a fake guest.Module. A nil func makes its operation fail.
type Module struct {
	Man        abi.Manifest
	Dig        string
	DiscoverFn func(ctx context.Context, inv guest.Invocation) (*abi.Catalog, error)
	CheckFn    func(ctx context.Context, inv guest.Invocation) (*abi.CheckResult, error)
	ReadFn     func(ctx context.Context, inv guest.Invocation, sink guest.ReadSink) (guest.Stats, error)
	WriteFn    func(ctx context.Context, inv guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error)
}

var errUnset = errors.New("guesttest: operation not set")

var _ guest.Module = (*Module)(nil)

// Manifest implements guest.Module.
func (m *Module) Manifest() abi.Manifest { return m.Man }

// Digest implements guest.Module.
func (m *Module) Digest() string { return m.Dig }

// Discover implements guest.Module.
func (m *Module) Discover(ctx context.Context, inv guest.Invocation) (*abi.Catalog, error) {
	if m.DiscoverFn == nil {
		return nil, errUnset
	}
	return m.DiscoverFn(ctx, inv)
}

// Check implements guest.Module.
func (m *Module) Check(ctx context.Context, inv guest.Invocation) (*abi.CheckResult, error) {
	if m.CheckFn == nil {
		return nil, errUnset
	}
	return m.CheckFn(ctx, inv)
}

// Read implements guest.Module.
func (m *Module) Read(ctx context.Context, inv guest.Invocation, sink guest.ReadSink) (guest.Stats, error) {
	if m.ReadFn == nil {
		return guest.Stats{}, errUnset
	}
	return m.ReadFn(ctx, inv, sink)
}

// Write implements guest.Module.
func (m *Module) Write(ctx context.Context, inv guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
	if m.WriteFn == nil {
		return guest.Stats{}, errUnset
	}
	return m.WriteFn(ctx, inv, src, ack)
}

// Loader is a fake module loader: it reads the manifest embedded in the
// bytes and returns a Module built from Template (per connector id, or the
// "" entry). It counts loads and can be slowed down with Delay.
type Loader struct {
	Delay     time.Duration
	Templates map[string]*Module

	loads atomic.Int32
	mu    sync.Mutex
	byDig map[string]int
	kept  map[string]guest.Module
}

// Loads returns the number of LoadVerified calls that compiled something.
func (l *Loader) Loads() int { return int(l.loads.Load()) }

// LoadsOf returns how many times the module with digest was loaded.
func (l *Loader) LoadsOf(digest string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byDig[digest]
}

// LoadVerified implements modules.Loader; the module stays loaded.
func (l *Loader) LoadVerified(ctx context.Context, wasm []byte, digest string) (guest.Module, error) {
	m, err := l.load(ctx, wasm, digest)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.kept == nil {
		l.kept = map[string]guest.Module{}
	}
	l.kept[digest] = m
	l.mu.Unlock()
	return m, nil
}

// Loaded implements modules.Loader: the modules LoadVerified returned stay
// loaded (no eviction), until Unload.
func (l *Loader) Loaded(digest string) (guest.Module, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.kept[digest]
	return m, ok
}

// Unload forgets a loaded module, as an eviction would.
func (l *Loader) Unload(digest string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.kept, digest)
}

func (l *Loader) load(ctx context.Context, wasm []byte, digest string) (guest.Module, error) {
	l.loads.Add(1)
	l.mu.Lock()
	if l.byDig == nil {
		l.byDig = map[string]int{}
	}
	l.byDig[digest]++
	l.mu.Unlock()
	if l.Delay > 0 {
		select {
		case <-time.After(l.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	man, err := abi.ReadManifest(wasm)
	if err != nil {
		return nil, err
	}
	m := &Module{}
	if t, ok := l.Templates[man.ID]; ok {
		*m = *t
	} else if t, ok := l.Templates[""]; ok {
		*m = *t
	}
	m.Man, m.Dig = *man, digest
	return m, nil
}

// Precompile implements modules.Loader: it loads as LoadVerified does and
// drops the module.
func (l *Loader) Precompile(ctx context.Context, wasm []byte, digest string) error {
	_, err := l.load(ctx, wasm, digest)
	return err
}

// Compiled implements modules.Loader: a module counts as compiled once it
// has been loaded.
func (l *Loader) Compiled(digest string) bool { return l.LoadsOf(digest) > 0 }

// Wasm returns a minimal wasm binary (header only) carrying man in its
// manifest custom section.
func Wasm(man abi.Manifest) []byte {
	payload, err := json.Marshal(man)
	if err != nil {
		panic(err) // a Manifest always marshals
	}
	b, err := abi.EmbedManifest([]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}, payload)
	if err != nil {
		panic(err) // the header above is valid
	}
	return b
}

// Manifest returns a valid manifest for a connector id.
func Manifest(id, version string, roles ...string) abi.Manifest {
	m := abi.Manifest{ID: id, Version: version, Roles: roles, ABIVersion: abi.Version}
	for _, r := range roles {
		if r == abi.RoleSource {
			m.SyncModes = []string{abi.SyncFullRefresh}
		} else {
			m.WriteModes = []string{abi.WriteAppend}
		}
	}
	return m
}
