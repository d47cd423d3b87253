package wasmhost

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"golang.org/x/sys/cpu"
)

// Runtime owns one wazero runtime, its compilation cache and the modules
// loaded into it. It is safe for concurrent use.
type Runtime struct {
	cfg    Config
	logger hclog.Logger
	wrt    wazero.Runtime
	cache  wazero.CompilationCache
	net    *netPolicy

	mu      sync.Mutex
	modules map[string]*Module      // by digest
	lru     list.List               // of *Module in modules, most recently used first
	cost    int64                   // sum of the cost of modules
	loading map[string]*loadingCall // in-flight compiles by digest
	closed  bool

	seq       atomic.Uint64
	abandoned atomic.Int64
}

type loadingCall struct {
	done chan struct{}
	// retain keeps the module loaded once compiled: set by LoadVerified,
	// left unset by Precompile unless a LoadVerified joins it meanwhile.
	retain bool
	mod    *Module
	err    error
}

// New creates a runtime: the compiler engine with the persistent
// compilation cache in cfg.CacheDir, WASI preview 1 and the rapidbyte host
// module.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("default cache dir: %w", err)
		}
		cfg.CacheDir = filepath.Join(dir, "rapidbyte", "wazero")
	}
	if cfg.MemoryLimitMiB == 0 {
		cfg.MemoryLimitMiB = DefaultMemoryLimitMiB
	}
	if cfg.MemoryLimitMiB > 4096 {
		return nil, fmt.Errorf("memory limit %d MiB exceeds the 4096 MiB of wasm32", cfg.MemoryLimitMiB)
	}
	if cfg.CancelGrace <= 0 {
		cfg.CancelGrace = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	policy, err := newNetPolicy(cfg.Net)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("open compilation cache %s: %w", cfg.CacheDir, err)
	}
	pages := cfg.MemoryLimitMiB * 16
	if pages > 65536 {
		pages = 65536
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(pages).
		WithCloseOnContextDone(cfg.CloseOnContextDone)
	wrt := wazero.NewRuntimeWithConfig(ctx, rc)
	r := &Runtime{
		cfg:     cfg,
		logger:  cfg.Logger.Named("wasmhost"),
		wrt:     wrt,
		cache:   cache,
		net:     policy,
		modules: map[string]*Module{},
		loading: map[string]*loadingCall{},
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wrt); err != nil {
		_ = r.closeAll(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	if err := instantiateHostModule(ctx, wrt); err != nil {
		_ = r.closeAll(ctx)
		return nil, fmt.Errorf("instantiate host module: %w", err)
	}
	return r, nil
}

// Close closes every module and instance and the compilation cache
// handle. Abandoned instances stop only when their guest returns.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	return r.closeAll(ctx)
}

// closeAll closes the wazero runtime and cache. With abandoned instances
// still running it closes nothing (closing modules under a running guest
// races inside wazero) and reports them: the process should exit.
func (r *Runtime) closeAll(ctx context.Context) error {
	if n := r.abandoned.Load(); n > 0 {
		return fmt.Errorf("close runtime: %d abandoned instances still running; not closed", n)
	}
	return errors.Join(r.wrt.Close(ctx), r.cache.Close(ctx))
}

// Abandoned returns the number of instances whose guest did not return
// after cancellation and still runs. A worker should report NOT_SERVING
// when it grows.
func (r *Runtime) Abandoned() int64 { return r.abandoned.Load() }

// Loaded returns the module with digest when it is loaded, and marks it
// the most recently used (see Config.ModuleCacheBytes). It implements
// modules.Loader, so it returns the guest.Module the worker uses.
func (r *Runtime) Loaded(digest string) (guest.Module, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.modules[digest]
	if !ok {
		return nil, false
	}
	r.lru.MoveToFront(m.elem)
	return m, true
}

// keep adds m to the loaded modules as the most recently used and unloads
// the least recently used others while their cost exceeds
// Config.ModuleCacheBytes. Called with r.mu held.
func (r *Runtime) keep(m *Module) {
	r.modules[m.digest] = m
	m.elem = r.lru.PushFront(m)
	r.cost += m.cost
	for budget := r.cfg.ModuleCacheBytes; budget > 0 && r.cost > budget; {
		old := r.lru.Back().Value.(*Module)
		if old == m {
			break
		}
		r.lru.Remove(old.elem)
		delete(r.modules, old.digest)
		r.cost -= old.cost
		old.evicted = true
		r.logger.Debug("module unloaded", "connector", old.manifest.ID, "digest", old.digest, "instances", old.users)
		if old.users == 0 {
			old.closeCompiled()
		}
	}
}

// LoadFile reads a .wasm file and loads it (see LoadBytes); its digest is
// computed from the bytes.
func (r *Runtime) LoadFile(ctx context.Context, path string) (*Module, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, &guest.Error{Connector: filepath.Base(path), Op: "load",
			Envelope: abi.NewErrorEnvelope(abi.CategoryInternal, "load", fmt.Sprintf("read module %s: %v", path, err)), Err: err}
	}
	return r.LoadBytes(ctx, wasm, Digest(wasm))
}

// Digest returns "sha256:<hex>" of wasm.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoadBytes verifies that wasm has the given digest ("sha256:<hex>"),
// reads and validates its manifest, compiles it (once per digest, even
// under concurrent calls; the compiled code is cached on disk) and checks
// its exports against the manifest roles. A module already loaded is
// returned as is. Failures are *guest.Error.
//
// The rb_abi_version export is checked on the module's first instance,
// before any other export (see Module.Verify): instantiating a Go module
// costs tens of milliseconds, which a check on an instance of its own
// would add to every load.
func (r *Runtime) LoadBytes(ctx context.Context, wasm []byte, digest string) (*Module, error) {
	if got := Digest(wasm); got != digest {
		return nil, loadErr("", "digest", fmt.Errorf("module digest is %s, want %s", got, digest))
	}
	return r.loadShared(ctx, wasm, digest, true)
}

// LoadVerified is LoadBytes for bytes the caller has just hashed to digest
// (the worker's module resolver): it skips hashing them a second time. It
// implements modules.Loader, so it returns the guest.Module the worker uses.
func (r *Runtime) LoadVerified(ctx context.Context, wasm []byte, digest string) (guest.Module, error) {
	m, err := r.loadShared(ctx, wasm, digest, true)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Precompile compiles a module whose bytes the caller hashed to digest into
// the compilation cache and checks it as LoadVerified and Module.Verify do,
// but does not keep it loaded: a loaded module holds its compiled code and
// decoded form (some 80 MiB for a PostgreSQL connector) for as long as the
// runtime lives, while loading it again from the cache takes well under a
// second. A worker warms its cache this way, so the modules it never runs
// cost it nothing. A module already loaded stays loaded, and so does one
// that a LoadVerified asked for while Precompile compiled it.
//
// A module this cache directory compiled before is skipped without being
// decoded (about half a second of CPU for a PostgreSQL connector): each
// successful load or Precompile leaves a marker file, keyed by digest,
// wazero version, compile options and CPU features (wazero's cache keys all
// of them), next to wazero's cache.
func (r *Runtime) Precompile(ctx context.Context, wasm []byte, digest string) error {
	if r.Compiled(digest) {
		return nil
	}
	_, err := r.loadShared(ctx, wasm, digest, false)
	return err
}

// Compiled reports whether the compilation cache holds the module with
// digest, compiled by an earlier load or Precompile with this cache
// directory and options: loading it then takes a fraction of a second
// instead of seconds. Without a cache directory it is always false.
func (r *Runtime) Compiled(digest string) bool {
	if r.cfg.CacheDir == "" {
		return false
	}
	_, err := os.Stat(r.precompiledMarker(digest))
	return err == nil
}

// markCompiled records that the compilation cache holds the module with
// digest (see Compiled). Without the marker the module is merely treated as
// not compiled: no error.
func (r *Runtime) markCompiled(digest string) {
	if r.cfg.CacheDir == "" {
		return
	}
	marker := r.precompiledMarker(digest)
	if os.MkdirAll(filepath.Dir(marker), 0o755) == nil {
		_ = os.WriteFile(marker, nil, 0o644)
	}
}

// precompiledMarker is the marker file of a module Precompile compiled.
func (r *Runtime) precompiledMarker(digest string) string {
	name := strings.TrimPrefix(digest, "sha256:")
	if r.cfg.CloseOnContextDone {
		name += "-terminable"
	}
	return filepath.Join(r.cfg.CacheDir, "rapidbyte-precompiled-"+wazeroVersion()+"-"+cpuFingerprint, name)
}

// cpuFingerprint identifies this machine's CPU features: a cache dir built
// on another machine (a container image) holds code for that machine's CPU,
// which wazero does not use here.
var cpuFingerprint = func() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%+v/%+v", runtime.GOARCH, cpu.X86, cpu.ARM64))
	return hex.EncodeToString(sum[:6])
}()

// wazeroVersion is the version of wazero built in (its compiled code is
// cached per version), or "unknown".
func wazeroVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				if d.Replace != nil {
					return "replaced"
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// loadShared loads a module once per digest, even under concurrent calls,
// and keeps it loaded when any caller asked to retain it.
func (r *Runtime) loadShared(ctx context.Context, wasm []byte, digest string, retain bool) (*Module, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, loadErr("", "load", errors.New("runtime is closed"))
	}
	if m, ok := r.modules[digest]; ok {
		r.lru.MoveToFront(m.elem)
		r.mu.Unlock()
		return m, nil
	}
	if c, ok := r.loading[digest]; ok {
		c.retain = c.retain || retain
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.mod, c.err
		case <-ctx.Done():
			return nil, loadErr("", "cancelled", ctx.Err())
		}
	}
	c := &loadingCall{done: make(chan struct{}), retain: retain}
	r.loading[digest] = c
	r.mu.Unlock()

	// The load is shared: callers waiting on c must not fail because this
	// caller was cancelled (each stops waiting on its own context above).
	ctx = context.WithoutCancel(ctx)
	mod, err := r.load(ctx, wasm, digest)
	if err == nil && !retain {
		if err = mod.Verify(ctx); err != nil {
			_ = mod.compiled.Close(ctx)
		}
	}
	if err == nil {
		r.markCompiled(digest)
	}
	r.mu.Lock()
	delete(r.loading, digest)
	keep := c.retain
	if err == nil && keep {
		r.keep(mod)
	}
	r.mu.Unlock()
	if err == nil && !keep {
		// The engine frees the compiled code once no module refers to it.
		_ = mod.compiled.Close(ctx)
		mod = nil
	}
	c.mod, c.err = mod, err
	close(c.done)
	return mod, err
}

func loadErr(connector, code string, err error) *guest.Error {
	return newError(connector, "load", abi.CategoryInternal, code, err)
}

func (r *Runtime) load(ctx context.Context, wasm []byte, digest string) (*Module, error) {
	man, err := abi.ReadManifest(wasm)
	if err != nil {
		return nil, loadErr("", "manifest", fmt.Errorf("read manifest: %w", err))
	}
	id := man.ID
	if err := man.Validate(); err != nil {
		return nil, loadErr(id, "manifest", err)
	}
	if man.ABIVersion != abi.Version {
		return nil, loadErr(id, "abi_mismatch", fmt.Errorf("manifest abi_version %d, this worker supports %d", man.ABIVersion, abi.Version))
	}
	man.Digest, man.SizeBytes = digest, uint64(len(wasm))
	start := time.Now()
	compiled, err := r.wrt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, loadErr(id, "compile", fmt.Errorf("compile: %w", err))
	}
	m := &Module{r: r, compiled: compiled, manifest: *man, digest: digest, compileTime: time.Since(start),
		cost: int64(len(wasm)) * ModuleCostFactor}
	if r.cfg.ModuleCacheBytes > 0 {
		m.wasm = wasm // to load it again once evicted; without a bound, nothing is
	}
	if err := m.checkExports(); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	r.logger.Debug("module loaded", "connector", id, "version", man.Version, "digest", digest, "compile", m.compileTime)
	return m, nil
}

// Module implements guest.Module.
var _ guest.Module = (*Module)(nil)

// Module is a compiled, verified connector module. It is safe for
// concurrent use; each invocation runs on its own instance.
type Module struct {
	r           *Runtime
	compiled    wazero.CompiledModule
	manifest    abi.Manifest
	digest      string
	compileTime time.Duration
	// abiOK is set once an instance's rb_abi_version returned abi.Version.
	abiOK atomic.Bool
	// wasm is the module's bytes, to load it again after an eviction
	// (nil without Config.ModuleCacheBytes: nothing is evicted).
	wasm []byte
	// cost is the memory the module is estimated to hold while loaded.
	cost int64

	// Guarded by r.mu: elem is the module's place in r.lru; users counts
	// its open instances; evicted is set once it left r.modules, and closed
	// once its compiled code was released (evicted and no users).
	elem    *list.Element
	users   int
	evicted bool
	closed  bool
}

// closeCompiled releases the compiled code. Called with r.mu held.
func (m *Module) closeCompiled() {
	m.closed = true
	// CompiledModule.Close only drops references; it does not call back.
	_ = m.compiled.Close(context.Background())
}

// acquire returns the compiled code to instantiate, counted as in use
// until release is called. A module unloaded since it was resolved is
// loaded again (from the compilation cache) and that module's code used.
func (m *Module) acquire(ctx context.Context) (compiled wazero.CompiledModule, release func(), err error) {
	r := m.r
	for cur := m; ; {
		r.mu.Lock()
		if !cur.closed {
			cur.users++
			r.mu.Unlock()
			held := cur
			return cur.compiled, func() { held.release() }, nil
		}
		r.mu.Unlock()
		cur, err = r.loadShared(ctx, m.wasm, m.digest, true)
		if err != nil {
			return nil, nil, err
		}
	}
}

// release ends one use begun by acquire.
func (m *Module) release() {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	m.users--
	if m.users == 0 && m.evicted && !m.closed {
		m.closeCompiled()
	}
}

// Manifest returns the module's manifest (Digest and SizeBytes filled).
func (m *Module) Manifest() abi.Manifest { return m.manifest }

// Digest returns "sha256:<hex>" of the module bytes.
func (m *Module) Digest() string { return m.digest }

func (m *Module) checkExports() error {
	need := []string{abi.ExportABIVersion, abi.ExportOpen, abi.ExportCheck, abi.ExportClose}
	if m.manifest.HasRole(abi.RoleSource) {
		need = append(need, abi.ExportDiscover, abi.ExportRead)
	}
	if m.manifest.HasRole(abi.RoleDestination) {
		need = append(need, abi.ExportWrite)
	}
	exports := m.compiled.ExportedFunctions()
	if _, ok := exports[abi.ExportInitialize]; !ok {
		// A Go wasip1 command (no -buildmode=c-shared) exports _start
		// instead: its exports trap in runtime.notInitialized when called.
		return loadErr(m.manifest.ID, "not_reactor", fmt.Errorf("module has no %s export: it was built as a command, not a reactor; "+
			"build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared", abi.ExportInitialize))
	}
	var missing []string
	for _, name := range need {
		def, ok := exports[name]
		if !ok || len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 1 || def.ResultTypes()[0] != api.ValueTypeI32 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return loadErr(m.manifest.ID, "missing_export", fmt.Errorf("module lacks exports %v (each () -> i32) required by roles %v", missing, m.manifest.Roles))
	}
	return nil
}

// Verify checks the module's rb_abi_version export on an instance of its
// own, unless an earlier instance checked it. Every invocation checks it
// anyway before its first export call; Verify is for callers that want a
// wrong ABI reported without running an operation (a worker warming its
// modules). A mismatch is an *guest.Error with code "abi_mismatch".
func (m *Module) Verify(ctx context.Context) error {
	if m.abiOK.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	in, err := m.newInstance(ctx, "load", guest.Invocation{Logger: m.r.logger})
	if err != nil {
		return err
	}
	in.close(ctx)
	return nil
}

// checkABIVersion calls rb_abi_version on a new instance, once per module.
func (in *instance) checkABIVersion(ctx context.Context) *guest.Error {
	if in.m.abiOK.Load() {
		return nil
	}
	rc, err := in.call(ctx, abi.ExportABIVersion)
	if err != nil {
		return in.exportErr(ctx, abi.ExportABIVersion, rc, err)
	}
	if rc != abi.Version {
		return loadErr(in.connector, "abi_mismatch", fmt.Errorf("rb_abi_version returned %d, this worker supports %d", rc, abi.Version))
	}
	in.m.abiOK.Store(true)
	return nil
}
