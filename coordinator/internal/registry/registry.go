package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrNotFound means no module matches the requested reference.
var ErrNotFound = errors.New("connector module not found")

// Module is one connector module on disk.
type Module struct {
	// Manifest is the module's manifest, with Digest and SizeBytes filled in.
	Manifest abi.Manifest
	// Path is the module file.
	Path string
}

// Ref names a module: by Digest ("sha256:<hex>"), which pins the exact
// bytes, or by ID with an optional Version (empty = newest).
type Ref struct {
	ID, Version, Digest string
}

// String renders the reference for messages.
func (r Ref) String() string {
	s := r.ID
	if r.Version != "" {
		s += "@" + r.Version
	}
	if r.Digest != "" {
		if s != "" {
			s += " "
		}
		s += r.Digest
	}
	return s
}

// Registry indexes the modules of a set of directories. It rescans a
// directory when a lookup misses, so modules built after start are found.
// It is safe for concurrent use.
type Registry struct {
	dirs []string

	mu    sync.Mutex
	cache map[string]cached // by path
}

type cached struct {
	size    int64
	modTime time.Time
	mod     Module
	err     error
}

// New returns a registry over dirs (missing directories are skipped).
func New(dirs ...string) *Registry {
	var keep []string
	for _, d := range dirs {
		if d = strings.TrimSpace(d); d != "" {
			keep = append(keep, d)
		}
	}
	return &Registry{dirs: keep, cache: map[string]cached{}}
}

// SplitDirs splits a --connectors-dir value: a list of directories joined by
// the OS path list separator (":" on Unix) or commas.
func SplitDirs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == os.PathListSeparator || r == ',' })
}

// List returns every valid module, sorted by id then version. Modules whose
// manifest cannot be read are skipped; Problems reports them.
func (r *Registry) List() ([]Module, error) {
	all, err := r.scan()
	if err != nil {
		return nil, err
	}
	var out []Module
	for _, c := range all {
		if c.err == nil {
			out = append(out, c.mod)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return compareVersions(a.Version, b.Version) < 0
	})
	return out, nil
}

// Problems returns the modules that could not be indexed, with why.
func (r *Registry) Problems() ([]error, error) {
	all, err := r.scan()
	if err != nil {
		return nil, err
	}
	var out []error
	for _, c := range all {
		if c.err != nil {
			out = append(out, c.err)
		}
	}
	return out, nil
}

// Find returns the module ref names. With a digest the module must have
// it (and match the id and version when those are given too); otherwise
// the newest version of the id, or the exact version asked for.
func (r *Registry) Find(ref Ref) (Module, error) {
	mods, err := r.List()
	if err != nil {
		return Module{}, err
	}
	var best *Module
	for i := range mods {
		m := &mods[i]
		if ref.Digest != "" && m.Manifest.Digest != ref.Digest {
			continue
		}
		if ref.ID != "" && m.Manifest.ID != ref.ID {
			continue
		}
		if ref.Version != "" && m.Manifest.Version != ref.Version {
			continue
		}
		if best == nil || compareVersions(m.Manifest.Version, best.Manifest.Version) > 0 {
			best = m
		}
	}
	if best == nil || (ref.ID == "" && ref.Digest == "") {
		return Module{}, fmt.Errorf("find %s: %w", ref, ErrNotFound)
	}
	return *best, nil
}

// Open opens a module's file for reading.
func (r *Registry) Open(m Module) (*os.File, error) {
	f, err := os.Open(m.Path)
	if err != nil {
		return nil, fmt.Errorf("open module %s: %w", m.Manifest.ID, err)
	}
	return f, nil
}

// scan reads every *.wasm of every directory, reusing cached manifests of
// files whose size and modification time did not change.
func (r *Registry) scan() ([]cached, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cached
	seen := map[string]bool{}
	for _, dir := range r.dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read connectors dir %q: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			info, err := e.Info()
			if err != nil {
				continue
			}
			seen[path] = true
			c, ok := r.cache[path]
			if !ok || c.size != info.Size() || !c.modTime.Equal(info.ModTime()) {
				mod, err := load(path)
				c = cached{size: info.Size(), modTime: info.ModTime(), mod: mod, err: err}
				r.cache[path] = c
			}
			out = append(out, c)
		}
	}
	for p := range r.cache {
		if !seen[p] {
			delete(r.cache, p)
		}
	}
	return out, nil
}

// load reads a module's manifest (embedded section, or a sidecar
// <name>.manifest.json) and computes its digest. It reads the file in
// small pieces: a coordinator needs neither the module's bytes in memory
// nor the page faults of a 13 MB buffer.
func load(path string) (Module, error) {
	f, err := os.Open(path)
	if err != nil {
		return Module{}, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Module{}, fmt.Errorf("module %s: %w", path, err)
	}
	m, err := abi.ReadManifestAt(f, info.Size())
	if errors.Is(err, abi.ErrNoManifest) {
		m, err = sidecar(strings.TrimSuffix(path, ".wasm") + ".manifest.json")
	}
	if err != nil {
		return Module{}, fmt.Errorf("module %s: read manifest: %w", path, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, info.Size()))
	if err != nil {
		return Module{}, fmt.Errorf("module %s: %w", path, err)
	}
	m.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	m.SizeBytes = uint64(n)
	return Module{Manifest: *m, Path: path}, nil
}

func sidecar(path string) (*abi.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m abi.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &m, nil
}

// compareVersions compares dotted versions numerically where both parts
// are numbers ("1.10.0" > "1.9.2"), textually otherwise.
func compareVersions(a, b string) int {
	pa := strings.Split(strings.TrimPrefix(a, "v"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		xi, errx := strconv.Atoi(x)
		yi, erry := strconv.Atoi(y)
		switch {
		case errx == nil && erry == nil && xi != yi:
			if xi < yi {
				return -1
			}
			return 1
		case (errx != nil || erry != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
