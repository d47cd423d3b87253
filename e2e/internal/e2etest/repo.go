package e2etest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Names of the binaries under <repo>/bin and connector modules under
// <repo>/dist/connectors that RequireBinaries checks.
var (
	// Binaries are the executables the end-to-end tests run.
	Binaries = []string{"rapidbyte", "rapidbyte-worker", "rapidbyte-coordinator"}
	// Connectors are the connector module ids the end-to-end tests load.
	Connectors = []string{"source-postgres", "dest-postgres"}
)

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest ancestor of the working
// directory holding go.work. It fails the test when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() { rootDir, rootErr = findRoot() })
	if rootErr != nil {
		t.Fatalf("locate repository root: %v", rootErr)
	}
	return rootDir
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// BinPath returns <repo>/bin/name.
func BinPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "bin", name)
}

// ConnectorsDir returns <repo>/dist/connectors.
func ConnectorsDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "dist", "connectors")
}

// CacheDir returns the shared wazero compilation cache <repo>/build/wazero-cache,
// creating it when missing.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "build", "wazero-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create cache dir: %v", err)
	}
	return dir
}

// RequireBinaries fails the test (never skips) when a binary in Binaries
// or a connector module in Connectors is missing.
func RequireBinaries(t testing.TB) {
	t.Helper()
	var missing []string
	for _, b := range Binaries {
		if _, err := os.Stat(BinPath(t, b)); err != nil {
			missing = append(missing, "bin/"+b)
		}
	}
	for _, c := range Connectors {
		if _, err := os.Stat(filepath.Join(ConnectorsDir(t), c+".wasm")); err != nil {
			missing = append(missing, "dist/connectors/"+c+".wasm")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing %v: run make build wasm", missing)
	}
}
