package modules

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
)

func writeModule(t *testing.T, dir, name string, man abi.Manifest) (string, []byte) {
	t.Helper()
	b := guesttest.Wasm(man)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return Digest(b), b
}

type counter struct {
	mu           sync.Mutex
	hits, misses int
}

func (c *counter) CacheHit()  { c.mu.Lock(); c.hits++; c.mu.Unlock() }
func (c *counter) CacheMiss() { c.mu.Lock(); c.misses++; c.mu.Unlock() }

func TestResolveFromDir(t *testing.T) {
	dir := t.TempDir()
	digest, _ := writeModule(t, dir, "source-a.wasm", guesttest.Manifest("source-a", "1.2.0", abi.RoleSource))
	writeModule(t, dir, "liar.wasm", guesttest.Manifest("other", "1.0.0", abi.RoleSource))
	other := "sha256:" + "00000000000000000000000000000000000000000000000000000000000000ff"

	tests := []struct {
		name    string
		ref     Ref
		wantErr error
	}{
		{"by id", Ref{ID: "source-a"}, nil},
		{"by id and version", Ref{ID: "source-a", Version: "1.2.0"}, nil},
		{"by id and digest", Ref{ID: "source-a", Digest: digest}, nil},
		{"wrong version", Ref{ID: "source-a", Version: "9.9.9"}, ErrNotFound},
		{"wrong digest", Ref{ID: "source-a", Digest: other}, ErrDigestMismatch},
		{"missing file", Ref{ID: "nope"}, ErrNotFound},
		{"file declares another id", Ref{ID: "liar"}, ErrNotFound},
		{"empty ref", Ref{}, ErrInvalidRef},
		{"bad digest syntax", Ref{ID: "source-a", Digest: "md5:abc"}, ErrInvalidRef},
		{"path traversal", Ref{ID: "../x"}, ErrInvalidRef},
	}
	loader := &guesttest.Loader{}
	obs := &counter{}
	r := New(loader, Config{Dir: dir, Observer: obs})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Resolve(context.Background(), tt.ref)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (m.Manifest().ID != "source-a" || m.Digest() != digest) {
				t.Errorf("module = %s %s", m.Manifest().ID, m.Digest())
			}
		})
	}
	if got := loader.LoadsOf(digest); got != 1 {
		t.Errorf("source-a compiled %d times, want 1", got)
	}
	if obs.misses != 1 || obs.hits < 2 {
		t.Errorf("hits=%d misses=%d", obs.hits, obs.misses)
	}
}

// TestOnCompile: the hook hears of a module's first compile only, by id.
func TestOnCompile(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "source-a.wasm", guesttest.Manifest("source-a", "1.2.0", abi.RoleSource))
	loader := &guesttest.Loader{}
	var compiled []string
	cfg := Config{Dir: dir, OnCompile: func(id string) { compiled = append(compiled, id) }}
	for range 2 {
		// A new resolver loads again; the loader's cache already holds the module.
		if _, err := New(loader, cfg).Resolve(context.Background(), Ref{ID: "source-a"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(compiled) != 1 || compiled[0] != "source-a" {
		t.Errorf("OnCompile calls %q, want one for source-a", compiled)
	}
}

func TestResolveReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	d1, _ := writeModule(t, dir, "dest-a.wasm", guesttest.Manifest("dest-a", "1.0.0", abi.RoleDestination))
	r := New(&guesttest.Loader{}, Config{Dir: dir})
	if m, err := r.Resolve(context.Background(), Ref{ID: "dest-a"}); err != nil || m.Digest() != d1 {
		t.Fatalf("first resolve: %v", err)
	}
	d2, _ := writeModule(t, dir, "dest-a.wasm", guesttest.Manifest("dest-a", "2.0.0", abi.RoleDestination))
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "dest-a.wasm"), future, future); err != nil {
		t.Fatal(err)
	}
	m, err := r.Resolve(context.Background(), Ref{ID: "dest-a"})
	if err != nil || m.Digest() != d2 || m.Manifest().Version != "2.0.0" {
		t.Fatalf("after change: %v %v", err, m)
	}
}

func TestResolveSingleflight(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "source-a.wasm", guesttest.Manifest("source-a", "1.0.0", abi.RoleSource))
	loader := &guesttest.Loader{Delay: 100 * time.Millisecond}
	r := New(loader, Config{Dir: dir})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Resolve(context.Background(), Ref{ID: "source-a"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := loader.Loads(); got != 1 {
		t.Errorf("compiled %d times under 16 concurrent first requests, want 1", got)
	}
}

func TestWarm(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "source-a.wasm", guesttest.Manifest("source-a", "1.0.0", abi.RoleSource))
	writeModule(t, dir, "dest-a.wasm", guesttest.Manifest("dest-a", "1.0.0", abi.RoleDestination))
	if err := os.WriteFile(filepath.Join(dir, "broken.wasm"), []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	loader := &guesttest.Loader{}
	r := New(loader, Config{Dir: dir})
	n, err := r.Warm(context.Background())
	if n != 2 || err == nil || loader.Loads() != 2 {
		t.Errorf("warmed %d (loads %d), err %v; want 2 and an error for broken.wasm", n, loader.Loads(), err)
	}
	// Warm keeps nothing loaded: a module loads on its first use, once.
	for range 2 {
		if _, err := r.Resolve(context.Background(), Ref{ID: "source-a"}); err != nil {
			t.Fatal(err)
		}
	}
	if loader.Loads() != 3 {
		t.Errorf("%d loads after warming 2 modules and resolving one twice, want 3", loader.Loads())
	}
	// A module already loaded is not compiled again by Warm.
	if _, err := r.Warm(context.Background()); err == nil || loader.Loads() != 4 {
		t.Errorf("%d loads after warming again, want 4 (dest-a only); err %v", loader.Loads(), err)
	}
}

// fakeRegistry serves modules by digest (or by id when no digest is asked).
type fakeRegistry struct {
	rbv1.UnimplementedConnectorRegistryServiceServer
	mu       sync.Mutex
	byDigest map[string][]byte
	byID     map[string][]byte
	corrupt  bool // send different bytes than asked for
	calls    int
}

func (f *fakeRegistry) FetchModule(req *rbv1.FetchModuleRequest, stream grpc.ServerStreamingServer[rbv1.FetchModuleResponse]) error {
	f.mu.Lock()
	f.calls++
	b, ok := f.byDigest[req.GetConnector().GetDigest()]
	if req.GetConnector().GetDigest() == "" {
		b, ok = f.byID[req.GetConnector().GetId()]
	}
	corrupt := f.corrupt
	f.mu.Unlock()
	if !ok {
		return status.Error(codes.NotFound, "no such module")
	}
	man, err := abi.ReadManifest(b)
	if err != nil {
		return err
	}
	if corrupt {
		b = append(append([]byte(nil), b...), 0)
	}
	const chunk = 7
	for i := 0; i < len(b); i += chunk {
		msg := &rbv1.FetchModuleResponse{Chunk: b[i:min(i+chunk, len(b))]}
		if i == 0 {
			msg.Manifest = &rbv1.ConnectorManifest{Id: man.ID, Version: man.Version}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

func startRegistry(t *testing.T, f *fakeRegistry) rbv1.ConnectorRegistryServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rbv1.RegisterConnectorRegistryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rbv1.NewConnectorRegistryServiceClient(conn)
}

func TestResolveFromRegistry(t *testing.T) {
	b := guesttest.Wasm(guesttest.Manifest("source-r", "3.0.0", abi.RoleSource))
	digest := Digest(b)
	reg := &fakeRegistry{byDigest: map[string][]byte{digest: b}, byID: map[string][]byte{"source-r": b}}
	client := startRegistry(t, reg)
	cache := t.TempDir()

	loader := &guesttest.Loader{}
	r := New(loader, Config{Dir: t.TempDir(), CacheDir: cache, Registry: client})
	m, err := r.Resolve(context.Background(), Ref{ID: "source-r", Digest: digest})
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest() != digest || m.Manifest().Version != "3.0.0" {
		t.Errorf("module = %s %s", m.Digest(), m.Manifest().Version)
	}
	cached, err := os.ReadFile(filepath.Join(cache, digest[len("sha256:"):]+".wasm"))
	if err != nil || Digest(cached) != digest {
		t.Fatalf("cache file: %v", err)
	}

	// A fresh resolver without a registry finds the module in the disk cache.
	r2 := New(&guesttest.Loader{}, Config{CacheDir: cache})
	if _, err := r2.Resolve(context.Background(), Ref{Digest: digest}); err != nil {
		t.Errorf("from disk cache: %v", err)
	}

	// Without a digest the registry picks the module; it is compiled once.
	r3 := New(&guesttest.Loader{}, Config{CacheDir: t.TempDir(), Registry: client})
	if m, err := r3.Resolve(context.Background(), Ref{ID: "source-r"}); err != nil || m.Digest() != digest {
		t.Errorf("by id: %v", err)
	}

	// Unknown modules are NotFound.
	if _, err := r3.Resolve(context.Background(), Ref{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

func TestRegistryDigestMismatch(t *testing.T) {
	b := guesttest.Wasm(guesttest.Manifest("source-r", "3.0.0", abi.RoleSource))
	digest := Digest(b)
	client := startRegistry(t, &fakeRegistry{byDigest: map[string][]byte{digest: b}, corrupt: true})
	cache := t.TempDir()
	loader := &guesttest.Loader{}
	r := New(loader, Config{CacheDir: cache, Registry: client})
	_, err := r.Resolve(context.Background(), Ref{ID: "source-r", Digest: digest})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want digest mismatch", err)
	}
	if loader.Loads() != 0 {
		t.Errorf("mismatching bytes were compiled")
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("mismatching bytes were cached: %v", entries)
	}
}

func TestRegistryUnavailable(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := New(&guesttest.Loader{}, Config{Registry: rbv1.NewConnectorRegistryServiceClient(conn)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.Resolve(ctx, Ref{ID: "x"}); !errors.Is(err, ErrRegistryUnavailable) {
		t.Errorf("err = %v, want registry unavailable", err)
	}
}
