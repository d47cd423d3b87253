package wasmhost

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// testConnectors are built by the Makefile pattern rule before the tests.
var testConnectors = []string{"test-generator", "test-faulty", "test-badabi", "test-careless", "test-noreactor"}

var (
	repoRoot   string
	testRT     *Runtime
	testLogger hclog.Logger
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
	if os.Getenv("RB_WASMHOST_CHILD") == "" {
		if err := buildTestConnectors(); err != nil {
			fmt.Fprintln(os.Stderr, "wasmhost tests need the test connectors:", err)
			return 1
		}
	}
	level := hclog.Warn
	if testing.Verbose() {
		level = hclog.Info
	}
	testLogger = hclog.New(&hclog.LoggerOptions{Name: "test", Level: level, Output: os.Stderr})
	rt, err := New(context.Background(), Config{CacheDir: cacheDir(), Logger: testLogger, MemoryLimitMiB: 128, CancelGrace: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new runtime:", err)
		return 1
	}
	testRT = rt
	code := m.Run()
	if err := rt.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "close runtime:", err)
	}
	return code
}

func cacheDir() string {
	if d := os.Getenv("RAPIDBYTE_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "build", "wazero-cache")
}

func wasmPath(id string) string {
	return filepath.Join(repoRoot, "dist", "testconnectors", id+".wasm")
}

// buildTestConnectors runs the Makefile rule for each test connector
// (a no-op when up to date).
func buildTestConnectors() error {
	targets := make([]string, len(testConnectors))
	for i, id := range testConnectors {
		targets[i] = wasmPath(id)
	}
	cmd := exec.Command("make", append([]string{"-C", repoRoot}, targets...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make %v: %w (run `make wasm` in %s)", targets, err, repoRoot)
	}
	return nil
}

func loadModule(t testing.TB, id string) *Module {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := testRT.LoadFile(ctx, wasmPath(id))
	if err != nil {
		t.Fatalf("load %s: %v", id, err)
	}
	return m
}

func rawJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readInvocation(t testing.TB, config any) guest.Invocation {
	return guest.Invocation{
		Request: abi.Request{
			Config: rawJSON(t, config),
			Stream: &abi.StreamSpec{Name: "generated", SyncMode: abi.SyncFullRefresh},
		},
		Timeout: time.Minute,
		Logger:  testLogger,
	}
}
