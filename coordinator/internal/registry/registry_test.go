package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// writeModule writes a minimal wasm module with an embedded manifest.
func writeModule(t *testing.T, dir, name, id, version string) string {
	t.Helper()
	m := abi.Manifest{ID: id, Version: version, Roles: []string{abi.RoleSource}, SyncModes: []string{abi.SyncFullRefresh}, ABIVersion: abi.Version}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := abi.EmbedManifest([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, payload)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "src-1.wasm", "source-x", "1.9.0")
	writeModule(t, dir, "src-2.wasm", "source-x", "1.10.0")
	writeModule(t, dir, "dst.wasm", "dest-y", "0.1.0")
	if err := os.WriteFile(filepath.Join(dir, "junk.wasm"), []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := New(dir, filepath.Join(dir, "missing"))
	mods, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 3 {
		t.Fatalf("List = %d modules, want 3", len(mods))
	}
	for _, m := range mods {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); m.Manifest.Digest != "sha256:"+hex.EncodeToString(sum[:]) || m.Manifest.SizeBytes != uint64(len(b)) {
			t.Errorf("%s: digest %s, size %d; want the file's", m.Path, m.Manifest.Digest, m.Manifest.SizeBytes)
		}
	}
	probs, _ := r.Problems()
	if len(probs) != 1 {
		t.Errorf("Problems = %v, want the junk module", probs)
	}
	tests := []struct {
		name    string
		ref     Ref
		version string
		err     error
	}{
		{name: "newest", ref: Ref{ID: "source-x"}, version: "1.10.0"},
		{name: "pinned version", ref: Ref{ID: "source-x", Version: "1.9.0"}, version: "1.9.0"},
		{name: "by digest", ref: Ref{Digest: mods[1].Manifest.Digest}, version: mods[1].Manifest.Version},
		{name: "unknown id", ref: Ref{ID: "nope"}, err: ErrNotFound},
		{name: "digest mismatch", ref: Ref{ID: "dest-y", Digest: "sha256:00"}, err: ErrNotFound},
		{name: "empty", ref: Ref{}, err: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := r.Find(tc.ref)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && m.Manifest.Version != tc.version {
				t.Errorf("version = %s, want %s", m.Manifest.Version, tc.version)
			}
		})
	}
	// A module added later is found on the next lookup.
	writeModule(t, dir, "late.wasm", "late", "1.0.0")
	if _, err := r.Find(Ref{ID: "late"}); err != nil {
		t.Errorf("late module: %v", err)
	}
}
