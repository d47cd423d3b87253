package wasmhost

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/certtest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// echoServer accepts connections and echoes what it reads; silent
// connections that never answer are accepted too (block_read).
func echoServer(t *testing.T, silent bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if silent {
					_, _ = io.Copy(io.Discard, c)
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsEchoServer is echoServer over TLS with a throwaway self-signed key.
func tlsEchoServer(t *testing.T) string {
	t.Helper()
	cert, _ := certtest.SelfSigned(t, "127.0.0.1")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestFaults(t *testing.T) {
	m := loadModule(t, "test-faulty")
	echo := echoServer(t, false)
	silent := echoServer(t, true)
	tlsEcho := tlsEchoServer(t)
	t.Setenv("RB_TEST_ALLOWED_ENV", "yes")
	t.Setenv("RB_TEST_SECRET_ENV", "leak")
	tests := []struct {
		name     string
		config   map[string]any
		timeout  time.Duration
		category string // "" = success
		code     string
		inMsg    string
	}{
		{name: "trap", config: map[string]any{"mode": "trap"}, category: abi.CategoryInternal, code: "trap", inMsg: "out of bounds"},
		{name: "panic recovered by sdk", config: map[string]any{"mode": "panic"}, category: abi.CategoryInternal, code: "panic", inMsg: "nil"},
		{name: "panic in goroutine", config: map[string]any{"mode": "goroutine_panic"}, category: abi.CategoryInternal, code: "crash", inMsg: "boom in a goroutine"},
		{name: "exit", config: map[string]any{"mode": "exit"}, category: abi.CategoryInternal, code: "exit", inMsg: "code 3"},
		{name: "oom", config: map[string]any{"mode": "oom"}, category: abi.CategoryInternal, code: "crash", inMsg: "out of memory"},
		{name: "panic during open", config: map[string]any{"mode": "panic", "phase": "open"}, category: abi.CategoryInternal, code: "panic"},
		{name: "dial forbidden", config: map[string]any{"mode": "dial_forbidden", "addr": "10.255.255.1:5432"}, category: abi.CategoryPermission, code: "denied", inMsg: "10.255.255.1:5432"},
		{name: "echo allowed by config host", config: map[string]any{"mode": "echo", "addr": echo, "host": "127.0.0.1"}},
		{name: "tls echo through host sockets", config: map[string]any{"mode": "tls_echo", "addr": tlsEcho, "host": "127.0.0.1"}},
		{name: "echo without host in config", config: map[string]any{"mode": "echo", "addr": echo}, category: abi.CategoryPermission, code: "denied"},
		{name: "blocked read honours timeout", config: map[string]any{"mode": "block_read", "addr": silent, "host": "127.0.0.1"}, timeout: time.Second, category: abi.CategoryTransientNetwork, code: CodeDeadline},
		{name: "cooperative wait honours timeout", config: map[string]any{"mode": "wait_cancel"}, timeout: 300 * time.Millisecond, category: abi.CategoryTransientNetwork, code: CodeDeadline},
		{name: "garbage pointers", config: map[string]any{"mode": "garbage_ptr"}, category: abi.CategoryInternal, code: "bad_batch", inMsg: "outside guest memory"},
		{name: "garbage offsets", config: map[string]any{"mode": "garbage_offsets"}, category: abi.CategoryInternal, code: "bad_batch", inMsg: "offset"},
		{name: "garbage buffer count", config: map[string]any{"mode": "garbage_count"}, category: abi.CategoryInternal, code: "bad_batch", inMsg: "buffers"},
		{name: "invalid error envelope", config: map[string]any{"mode": "bad_error"}, category: abi.CategoryInternal, code: "bad_envelope"},
		{name: "no filesystem", config: map[string]any{"mode": "read_file", "path": "/etc/hostname"}, category: abi.CategoryPermission, code: "no_fs"},
		{name: "only granted env vars", config: map[string]any{"mode": "read_env", "expect_env": map[string]string{"RB_TEST_ALLOWED_ENV": "yes"}}},
		{name: "unknown mode is a config error", config: map[string]any{"mode": "nope"}, category: abi.CategoryConfig},
		{name: "unknown config field", config: map[string]any{"mode": "ok", "extra": 1}, category: abi.CategoryConfig, code: "unknown_field", inMsg: "extra"},
		{name: "ok", config: map[string]any{"mode": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := readInvocation(t, tc.config)
			if tc.timeout > 0 {
				inv.Timeout = tc.timeout
			}
			sink := &collectSink{}
			defer sink.release()
			start := time.Now()
			_, err := m.Read(context.Background(), inv, sink)
			elapsed := time.Since(start)
			if tc.category == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var e *guest.Error
			if !errors.As(err, &e) {
				t.Fatalf("want *guest.Error, got %T %v", err, err)
			}
			if e.Envelope.Category != tc.category || tc.code != "" && e.Envelope.Code != tc.code {
				t.Fatalf("want %s/%s, got %s/%s: %v", tc.category, tc.code, e.Envelope.Category, e.Envelope.Code, err)
			}
			if !strings.Contains(err.Error(), "test-faulty") || e.Connector != "test-faulty" {
				t.Errorf("error does not name the connector: %v", err)
			}
			if tc.inMsg != "" && !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("error %q lacks %q", err, tc.inMsg)
			}
			if tc.timeout > 0 && elapsed > tc.timeout+3*time.Second {
				t.Errorf("returned after %v, timeout %v", elapsed, tc.timeout)
			}
			// A guest that returned when its deadline passed (here: blocked
			// on a silent peer) is retryable; see TestSleepingGuestIsAbandoned.
			if tc.code == CodeDeadline && (!e.Envelope.Retryable || !e.Envelope.SafeToRetry || errors.Is(err, ErrAbandoned)) {
				t.Errorf("cooperative timeout not retryable: %+v", e.Envelope)
			}
		})
	}
	if n := testRT.Abandoned(); n != 0 {
		t.Errorf("%d instances abandoned by cooperative faults", n)
	}
}

func TestCancelIsClassified(t *testing.T) {
	m := loadModule(t, "test-faulty")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := m.Read(ctx, readInvocation(t, map[string]any{"mode": "wait_cancel"}), &collectSink{})
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryCancelled {
		t.Fatalf("want a cancelled error, got %v", err)
	}
}

func TestSleepingGuestIsAbandoned(t *testing.T) {
	m := loadModule(t, "test-faulty")
	before := testRT.Abandoned()
	inv := readInvocation(t, map[string]any{"mode": "sleep_forever"})
	inv.Timeout = 2 * time.Second // long enough to reach rb_read even under -race
	start := time.Now()
	_, err := m.Read(context.Background(), inv, &collectSink{})
	if time.Since(start) > 8*time.Second {
		t.Fatalf("returned after %v", time.Since(start))
	}
	var e *guest.Error
	if !errors.As(err, &e) || !errors.Is(err, ErrAbandoned) {
		t.Fatalf("want an abandoned guest, got %v", err)
	}
	if env := e.Envelope; env.Category != abi.CategoryInternal || env.Code != CodeUnresponsive || env.Retryable || env.SafeToRetry || env.Hint == "" {
		t.Fatalf("abandoned guest classified %+v, want internal/%s, not retryable, with a hint", env, CodeUnresponsive)
	}
	if got := testRT.Abandoned(); got != before+1 {
		t.Errorf("abandoned count %d, want %d", got, before+1)
	}
}

// TestHangingGuest runs the busy-looping guest in child processes: an
// abandoned spinning instance keeps a core busy and blocks the Go GC's
// stop-the-world until its process exits, so it must not run in this one.
func TestHangingGuest(t *testing.T) {
	switch os.Getenv("RB_WASMHOST_CHILD") {
	case "hang":
		debug.SetGCPercent(-1) // a GC would wait forever for the spinning guest
		var abandoned []string
		testRT.cfg.OnAbandon = func(connector string) { abandoned = append(abandoned, connector) }
		hangChild(t, testRT, true)
		if testRT.Abandoned() != 1 || len(abandoned) != 1 || abandoned[0] != "test-faulty" {
			t.Fatalf("abandoned %d, OnAbandon calls %v", testRT.Abandoned(), abandoned)
		}
		fmt.Println("CHILD-OK")
		os.Exit(0) // leave without closing: the guest never returns
	case "hang-close":
		ctx := context.Background()
		rt, err := New(ctx, Config{CacheDir: cacheDir(), Logger: testLogger, MemoryLimitMiB: 256, CloseOnContextDone: true, CancelGrace: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hangChild(t, rt, false)
		if rt.Abandoned() != 0 {
			t.Fatalf("abandoned %d with CloseOnContextDone", rt.Abandoned())
		}
		runtime.GC() // the guest was stopped, so the GC can run
		fmt.Println("CHILD-OK")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns child processes that spin a core")
	}
	for _, mode := range []string{"hang", "hang-close"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHangingGuest$", "-test.count=1")
			cmd.Env = append(os.Environ(), "RB_WASMHOST_CHILD="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "CHILD-OK") {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

func hangChild(t *testing.T, rt *Runtime, wantAbandoned bool) {
	m, err := rt.LoadFile(context.Background(), wasmPath("test-faulty"))
	if err != nil {
		t.Fatal(err)
	}
	inv := readInvocation(t, map[string]any{"mode": "hang"})
	inv.Timeout = 2 * time.Second
	start := time.Now()
	_, err = m.Read(context.Background(), inv, &collectSink{})
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("returned after %v", d)
	}
	var e *guest.Error
	// Abandoned: a runaway guest, not retried. Stopped by
	// CloseOnContextDone: nothing was abandoned, so a retry harms no worker.
	want := CodeDeadline
	if wantAbandoned {
		want = CodeUnresponsive
	}
	if !errors.As(err, &e) || e.Envelope.Code != want || e.Envelope.Retryable == wantAbandoned || errors.Is(err, ErrAbandoned) != wantAbandoned {
		t.Fatalf("want %s (abandoned=%v), got %+v: %v", want, wantAbandoned, e, err)
	}
}

func TestLoadFailures(t *testing.T) {
	ctx := context.Background()
	// A wrong rb_abi_version is found on the module's first instance:
	// by Verify, or by any invocation before it calls another export.
	m, err := testRT.LoadFile(ctx, wasmPath("test-badabi"))
	if err != nil {
		t.Fatalf("load test-badabi: %v", err)
	}
	_, err = m.Discover(ctx, guest.Invocation{Logger: testLogger})
	var e *guest.Error
	if !errors.As(err, &e) || e.Envelope.Code != "abi_mismatch" || !strings.Contains(err.Error(), "999") || e.Connector != "test-badabi" {
		t.Fatalf("bad abi, discover: %v", err)
	}
	err = m.Verify(ctx)
	if !errors.As(err, &e) || e.Envelope.Code != "abi_mismatch" || !strings.Contains(err.Error(), "999") {
		t.Fatalf("bad abi, verify: %v", err)
	}
	if err := loadModule(t, "test-generator").Verify(ctx); err != nil {
		t.Fatalf("verify test-generator: %v", err)
	}
	// A module built without -buildmode=c-shared is a command, not a
	// reactor: refused at load, with the build flag in the message,
	// before any export traps in runtime.notInitialized.
	_, err = testRT.LoadFile(ctx, wasmPath("test-noreactor"))
	if !errors.As(err, &e) || e.Envelope.Code != "not_reactor" || !strings.Contains(err.Error(), "-buildmode=c-shared") ||
		strings.Contains(err.Error(), "rb_abi_version") {
		t.Fatalf("module without _initialize: %v", err)
	}
	bare := []byte("\x00asm\x01\x00\x00\x00")
	_, err = testRT.LoadBytes(ctx, bare, Digest(bare))
	if !errors.As(err, &e) || e.Envelope.Code != "manifest" {
		t.Fatalf("no manifest: %v", err)
	}
	_, err = testRT.LoadBytes(ctx, bare, "sha256:00")
	if !errors.As(err, &e) || e.Envelope.Code != "digest" {
		t.Fatalf("bad digest: %v", err)
	}
	wasm, err := os.ReadFile(wasmPath("test-generator"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := abi.EmbedManifest(wasm, []byte(`{"id":"x","version":"1","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":999}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = testRT.LoadBytes(ctx, bad, Digest(bad))
	if !errors.As(err, &e) || e.Envelope.Code != "abi_mismatch" {
		t.Fatalf("manifest abi 999: %v", err)
	}
}

func TestConcurrentLoadCompilesOnce(t *testing.T) {
	wasm, err := os.ReadFile(wasmPath("test-generator"))
	if err != nil {
		t.Fatal(err)
	}
	// A distinct digest (new manifest description) forces a fresh load.
	wasm, err = abi.EmbedManifest(wasm, []byte(`{"id":"test-generator","version":"9.9.9","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	mods := make(chan *Module, 4)
	for range 4 {
		go func() {
			m, err := testRT.LoadBytes(context.Background(), wasm, Digest(wasm))
			if err != nil {
				t.Error(err)
			}
			mods <- m
		}()
	}
	first := <-mods
	for range 3 {
		if m := <-mods; m != first {
			t.Fatal("concurrent loads returned different modules")
		}
	}
	if first.Manifest().Version != "9.9.9" || first.Digest() != Digest(wasm) {
		t.Errorf("manifest %+v", first.Manifest())
	}
}

func TestPrecompile(t *testing.T) {
	ctx := context.Background()
	wasm, err := os.ReadFile(wasmPath("test-generator"))
	if err != nil {
		t.Fatal(err)
	}
	wasm, err = abi.EmbedManifest(wasm, []byte(`{"id":"test-generator","version":"9.9.8","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	digest := Digest(wasm)
	// The cache directory outlives a test run: forget an earlier run's marker.
	if err := os.Remove(testRT.precompiledMarker(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if testRT.Compiled(digest) {
		t.Fatal("Compiled before any load")
	}
	loaded := func() *Module {
		testRT.mu.Lock()
		defer testRT.mu.Unlock()
		return testRT.modules[digest]
	}
	if err := testRT.Precompile(ctx, wasm, digest); err != nil {
		t.Fatal(err)
	}
	if loaded() != nil {
		t.Fatal("Precompile kept the module loaded")
	}
	if !testRT.Compiled(digest) {
		t.Fatal("not Compiled after Precompile")
	}
	// A load during a Precompile (or after it) gets a module that stays loaded.
	errc := make(chan error, 1)
	go func() { errc <- testRT.Precompile(ctx, wasm, digest) }()
	m, err := testRT.LoadBytes(ctx, wasm, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if loaded() != m {
		t.Fatal("the loaded module is not kept")
	}
	sink := &collectSink{}
	if st, err := m.Read(ctx, readInvocation(t, map[string]any{"rows": 100, "batch_rows": 50}), sink); err != nil || st.Records != 100 {
		t.Fatalf("read after precompile: %+v, %v", st, err)
	}

	bad, err := os.ReadFile(wasmPath("test-badabi"))
	if err != nil {
		t.Fatal(err)
	}
	// Not loaded by another test: a module already loaded is not checked again.
	bad, err = abi.EmbedManifest(bad, []byte(`{"id":"test-badabi","version":"9.9.8","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var e *guest.Error
	if err := testRT.Precompile(ctx, bad, Digest(bad)); !errors.As(err, &e) || e.Envelope.Code != "abi_mismatch" {
		t.Fatalf("precompile test-badabi: %v", err)
	}
}
