package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// Ref names a connector module.
type Ref struct {
	// ID is the connector id, for example "source-postgres".
	ID string
	// Version, when set, must equal the manifest's version.
	Version string
	// Digest, when set, is "sha256:<hex>" of the exact module bytes.
	Digest string
}

// String formats the reference as id[@version][#digest].
func (r Ref) String() string {
	s := r.ID
	if r.Version != "" {
		s += "@" + r.Version
	}
	if r.Digest != "" {
		s += "#" + r.Digest
	}
	return s
}

// Loader compiles module bytes whose digest the resolver has verified.
type Loader interface {
	// LoadVerified compiles a module whose bytes the caller hashed to
	// digest and keeps it loaded.
	LoadVerified(ctx context.Context, wasm []byte, digest string) (guest.Module, error)
	// Precompile compiles and checks a module into the compilation cache
	// without keeping it loaded (unless a LoadVerified asks for it meanwhile).
	Precompile(ctx context.Context, wasm []byte, digest string) error
	// Compiled reports whether the compilation cache holds the module, so
	// LoadVerified will not compile it.
	Compiled(digest string) bool
	// Loaded returns the module with digest if it is loaded (LoadVerified
	// loaded it and the loader has not unloaded it since to stay within
	// its memory budget).
	Loaded(digest string) (guest.Module, bool)
}

// Observer counts in-memory cache hits and misses (for metrics); nil-safe.
type Observer interface {
	CacheHit()
	CacheMiss()
}

// Config configures a Resolver.
type Config struct {
	// Dir holds <id>.wasm files; empty disables directory lookup.
	Dir string
	// CacheDir stores fetched modules as <hex>.wasm; empty disables the disk cache.
	CacheDir string
	// Registry fetches missing modules; nil disables fetching.
	Registry Registry
	// Observer counts cache hits and misses; may be nil.
	Observer Observer
	// Logger receives resolution events; nil discards them.
	Logger hclog.Logger
	// OnCompile, when set, is called with the connector id before a module
	// the compilation cache lacks is compiled (seconds of CPU), so a user
	// waiting on a first run can be told why.
	OnCompile func(connector string)
}

// Resolver finds, verifies, caches and compiles connector modules. It is
// safe for concurrent use.
type Resolver struct {
	cfg    Config
	loader Loader
	log    hclog.Logger
	group  singleflight.Group

	mu    sync.Mutex
	files map[string]fileEntry // by path
}

type fileEntry struct {
	size     int64
	modTime  time.Time
	digest   string
	manifest abi.Manifest
}

// New returns a Resolver that compiles with loader.
func New(loader Loader, cfg Config) *Resolver {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Resolver{cfg: cfg, loader: loader, log: log, files: map[string]fileEntry{}}
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Resolve returns the compiled module ref names.
func (r *Resolver) Resolve(ctx context.Context, ref Ref) (guest.Module, error) {
	if ref.ID == "" && ref.Digest == "" {
		return nil, fmt.Errorf("%w: id or digest is required", ErrInvalidRef)
	}
	if ref.Digest != "" && !digestRE.MatchString(ref.Digest) {
		return nil, fmt.Errorf("%w: digest %q is not sha256:<64 lower-case hex>", ErrInvalidRef, ref.Digest)
	}
	if ref.Digest != "" {
		if m, ok := r.cached(ref.Digest); ok {
			return r.check(ref, m)
		}
	}
	m, err := r.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.check(ref, m)
}

func (r *Resolver) resolve(ctx context.Context, ref Ref) (guest.Module, error) {
	var dirErr error
	if r.cfg.Dir != "" && ref.ID != "" {
		m, err := r.fromDir(ctx, ref)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDigestMismatch) {
			return nil, err
		}
		dirErr = err
	}
	if ref.Digest != "" && r.cfg.CacheDir != "" {
		m, err := r.fromCache(ctx, ref.ID, ref.Digest)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("ignoring cached module", "digest", ref.Digest, "error", err)
		}
	}
	if r.cfg.Registry != nil {
		return r.fromRegistry(ctx, ref)
	}
	if dirErr != nil {
		return nil, dirErr
	}
	return nil, fmt.Errorf("connector %s: %w", ref, ErrNotFound)
}

// check verifies that a resolved module matches the reference's id and version.
func (r *Resolver) check(ref Ref, m guest.Module) (guest.Module, error) {
	man := m.Manifest()
	if ref.ID != "" && man.ID != ref.ID {
		return nil, fmt.Errorf("connector %s: module %s declares id %q: %w", ref, m.Digest(), man.ID, ErrNotFound)
	}
	if ref.Version != "" && man.Version != ref.Version {
		return nil, fmt.Errorf("connector %s: module %s has version %q: %w", ref, m.Digest(), man.Version, ErrNotFound)
	}
	return m, nil
}

// cached returns the module with digest when the loader holds it loaded.
func (r *Resolver) cached(digest string) (guest.Module, bool) {
	m, ok := r.loader.Loaded(digest)
	if ok && r.cfg.Observer != nil {
		r.cfg.Observer.CacheHit()
	}
	return m, ok
}

// load compiles the module with the given digest once; read supplies its
// bytes and their digest (each read hashes the bytes once, then neither load
// nor the loader hashes them again), which load checks against digest.
func (r *Resolver) load(ctx context.Context, id, digest string, read func() ([]byte, string, error)) (guest.Module, error) {
	if m, ok := r.cached(digest); ok {
		return m, nil
	}
	v, err, _ := r.group.Do(digest, func() (any, error) {
		if m, ok := r.loader.Loaded(digest); ok {
			return m, nil
		}
		if r.cfg.Observer != nil {
			r.cfg.Observer.CacheMiss()
		}
		b, got, err := read()
		if err != nil {
			return nil, err
		}
		if got != digest {
			return nil, fmt.Errorf("module bytes hash to %s, want %s: %w", got, digest, ErrDigestMismatch)
		}
		if r.cfg.OnCompile != nil && !r.loader.Compiled(digest) {
			r.cfg.OnCompile(id)
		}
		start := time.Now()
		// The compile is shared by every waiter: do not let the first caller's
		// cancellation fail the others.
		m, err := r.loader.LoadVerified(context.WithoutCancel(ctx), b, digest)
		if err != nil {
			return nil, fmt.Errorf("load module %s: %w", digest, err)
		}
		r.log.Info("module loaded", "connector", m.Manifest().ID, "version", m.Manifest().Version,
			"digest", digest, "duration", time.Since(start))
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(guest.Module), nil
}

// fromDir resolves <Dir>/<id>.wasm.
func (r *Resolver) fromDir(ctx context.Context, ref Ref) (guest.Module, error) {
	path, fe, b, err := r.dirEntry(ref)
	if err != nil {
		return nil, err
	}
	return r.load(ctx, ref.ID, fe.digest, func() ([]byte, string, error) {
		if b != nil {
			return b, fe.digest, nil
		}
		return readFile(path)
	})
}

// dirEntry finds <Dir>/<id>.wasm and checks it against ref; see stat for
// the bytes it may return.
func (r *Resolver) dirEntry(ref Ref) (string, fileEntry, []byte, error) {
	if strings.ContainsAny(ref.ID, `/\`) || ref.ID == "." || ref.ID == ".." {
		return "", fileEntry{}, nil, fmt.Errorf("%w: id %q", ErrInvalidRef, ref.ID)
	}
	path := filepath.Join(r.cfg.Dir, ref.ID+".wasm")
	fe, b, err := r.stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = fmt.Errorf("connector %s: no %s: %w", ref, path, ErrNotFound)
	case err != nil:
	case fe.manifest.ID != ref.ID:
		err = fmt.Errorf("connector %s: %s declares id %q: %w", ref, path, fe.manifest.ID, ErrNotFound)
	case ref.Version != "" && fe.manifest.Version != ref.Version:
		err = fmt.Errorf("connector %s: %s has version %q: %w", ref, path, fe.manifest.Version, ErrNotFound)
	case ref.Digest != "" && fe.digest != ref.Digest:
		err = fmt.Errorf("connector %s: %s has digest %s: %w", ref, path, fe.digest, ErrDigestMismatch)
	}
	if err != nil {
		return "", fileEntry{}, nil, err
	}
	return path, fe, b, nil
}

// readFile reads a module file and hashes it.
func readFile(path string) ([]byte, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	return b, Digest(b), nil
}

// stat returns the digest and manifest of a module file, hashing it only
// when its size or mtime changed; then it also returns the bytes it read,
// so that loading them does not read and hash the file a second time.
func (r *Resolver) stat(path string) (fileEntry, []byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileEntry{}, nil, err
	}
	r.mu.Lock()
	fe, ok := r.files[path]
	r.mu.Unlock()
	if ok && fe.size == fi.Size() && fe.modTime.Equal(fi.ModTime()) {
		return fe, nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fileEntry{}, nil, err
	}
	man, err := abi.ReadManifest(b)
	if err != nil {
		return fileEntry{}, nil, fmt.Errorf("%s: %w (%w); rebuild it with make wasm or remove it", path, ErrInvalidModule, err)
	}
	fe = fileEntry{size: fi.Size(), modTime: fi.ModTime(), digest: Digest(b), manifest: *man}
	r.mu.Lock()
	r.files[path] = fe
	r.mu.Unlock()
	return fe, b, nil
}

func (r *Resolver) cachePath(digest string) string {
	return filepath.Join(r.cfg.CacheDir, strings.TrimPrefix(digest, "sha256:")+".wasm")
}

// fromCache loads a module fetched earlier.
func (r *Resolver) fromCache(ctx context.Context, id, digest string) (guest.Module, error) {
	path := r.cachePath(digest)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	m, err := r.load(ctx, id, digest, func() ([]byte, string, error) { return readFile(path) })
	if errors.Is(err, ErrDigestMismatch) {
		// A corrupt cache entry is discarded so the next resolve refetches.
		_ = os.Remove(path)
	}
	return m, err
}

// writeCache stores fetched bytes as <CacheDir>/<hex>.wasm with an atomic rename.
func (r *Resolver) writeCache(digest string, b []byte) error {
	if r.cfg.CacheDir == "" {
		return nil
	}
	if err := os.MkdirAll(r.cfg.CacheDir, 0o755); err != nil {
		return fmt.Errorf("create module cache: %w", err)
	}
	tmp, err := os.CreateTemp(r.cfg.CacheDir, ".fetch-*")
	if err != nil {
		return fmt.Errorf("create module cache file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write module cache file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync module cache file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close module cache file: %w", err)
	}
	if err := os.Rename(tmp.Name(), r.cachePath(digest)); err != nil {
		return fmt.Errorf("install module cache file: %w", err)
	}
	return nil
}

// Warm compiles every <id>.wasm in Dir into the compilation cache, one at a
// time (a cold compile costs several CPU-seconds and hundreds of MiB), and
// checks each (manifest, exports, ABI version on an instance), without
// keeping them loaded: each loads from the cache on its first use, so a
// worker holds only the modules it runs. It returns the modules warmed and
// the errors of those that failed.
func (r *Resolver) Warm(ctx context.Context) (int, error) {
	if r.cfg.Dir == "" {
		return 0, nil
	}
	paths, err := filepath.Glob(filepath.Join(r.cfg.Dir, "*.wasm"))
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", r.cfg.Dir, err)
	}
	sort.Strings(paths)
	var errs []error
	n := 0
	for _, p := range paths {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		id := strings.TrimSuffix(filepath.Base(p), ".wasm")
		if err := r.precompile(ctx, Ref{ID: id}); err != nil {
			errs = append(errs, fmt.Errorf("warm %s: %w", id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// precompile compiles a module of Dir into the compilation cache, unless it
// is loaded already.
func (r *Resolver) precompile(ctx context.Context, ref Ref) error {
	path, fe, b, err := r.dirEntry(ref)
	if err != nil {
		return err
	}
	if _, loaded := r.loader.Loaded(fe.digest); loaded {
		return nil
	}
	if b == nil {
		var digest string
		if b, digest, err = readFile(path); err != nil {
			return err
		}
		if digest != fe.digest {
			return fmt.Errorf("%s changed while warming (%s, then %s): %w", path, fe.digest, digest, ErrDigestMismatch)
		}
	}
	start := time.Now()
	if err := r.loader.Precompile(ctx, b, fe.digest); err != nil {
		return fmt.Errorf("load module %s: %w", fe.digest, err)
	}
	r.log.Info("module in compilation cache", "connector", fe.manifest.ID, "version", fe.manifest.Version,
		"digest", fe.digest, "duration", time.Since(start))
	return nil
}
