package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestRunEmbedsManifest(t *testing.T) {
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "c.wasm")
	if err := os.WriteFile(wasmPath, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(good, []byte(`{"id":"c","version":"1.0.0","roles":["ROLE_DESTINATION"],"write_modes":["WRITE_MODE_APPEND"],
		"config_schema":{"type":"object"},"permissions":{"allowed_hosts":["db"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := run(good, wasmPath); err != nil {
			t.Fatal(err)
		}
	}
	wasm, _ := os.ReadFile(wasmPath)
	m, err := abi.ReadManifest(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "c" || m.ABIVersion != abi.Version || !m.HasRole(abi.RoleDestination) || string(m.ConfigSchema) != `{"type":"object"}` || m.Permissions.AllowedHosts[0] != "db" {
		t.Errorf("manifest %+v", m)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":"c","roles":["ROLE_SOURCE"],"unknown":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(bad, wasmPath); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("bad manifest: %v", err)
	}
	if err := os.WriteFile(bad, []byte(`{"id":"c","roles":["ROLE_SOURCE"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(bad, wasmPath); err == nil || !strings.Contains(err.Error(), "version is required") || !strings.Contains(err.Error(), "sync_modes") {
		t.Errorf("incomplete manifest: %v", err)
	}
}
