package scaffold

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestGenerateBothRoles(t *testing.T) {
	for _, role := range []string{RoleSource, RoleDestination} {
		t.Run(role, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			files, err := Generate(Options{Name: "x-" + role, Role: role, Dir: dir, SDKDir: "/opt/rapidbyte/sdk"})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte("[[")) {
					t.Errorf("%s: unrendered template action", f)
				}
				if strings.HasSuffix(f, ".go") {
					formatted, err := format.Source(b)
					if err != nil {
						t.Errorf("%s: %v", f, err)
					} else if !bytes.Equal(formatted, b) {
						t.Errorf("%s is not gofmt-clean", f)
					}
				}
			}
			raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m abi.Manifest
			if err := m.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil || m.ID != "x-"+role || !m.HasRole(role) {
				t.Errorf("manifest %+v: %v", m, err)
			}
			gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			if !strings.Contains(string(gomod), "module example.com/x-"+role+"\n") ||
				!strings.Contains(string(gomod), "replace "+SDKModule+" => /opt/rapidbyte/sdk\n") {
				t.Errorf("go.mod:\n%s", gomod)
			}
		})
	}
}

func TestGenerateRejects(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Name: "Bad_Name", Role: RoleSource, Dir: filepath.Join(dir, "a")},
		{Name: "ok", Role: "sink", Dir: filepath.Join(dir, "b")},
		{Name: "ok", Role: RoleSource, Dir: filepath.Join(dir, "c"), SDKDir: "relative/sdk"},
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(Options{Name: "ok", Role: RoleSource, Dir: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Generate into a non-empty dir: %v", err)
	}
}

func TestFindSDK(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sdk"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sdk", "go.mod"), []byte("module "+SDKModule+"\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := FindSDK("", t.TempDir(), root); got != filepath.Join(root, "sdk") {
		t.Errorf("FindSDK = %q", got)
	}
	if got := FindSDK(t.TempDir()); got != "" {
		t.Errorf("FindSDK of an empty dir = %q", got)
	}
}
