// Package scaffold generates a connector module outside the Rapidbyte
// repository (`rapidbyte connector init`): go.mod depending on the sdk
// (with a replace to a local checkout until the sdk is published), main.go,
// manifest.json, a native conformance test, a Makefile that builds the
// wasm module and packs it with rbpack, and a sample config (and, for a
// source, a pipeline copying it into PostgreSQL).
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// SDKModule is the sdk's module path.
const SDKModule = "github.com/rapidbyte/rapidbyte/sdk"

// Roles a connector can be generated with.
const (
	RoleSource      = "source"
	RoleDestination = "destination"
)

//go:embed templates
var templates embed.FS

// Options says what to generate.
type Options struct {
	// Name is the connector id (lower-case letters, digits and dashes,
	// starting with a letter), also the module's file name.
	Name string
	// Role is RoleSource or RoleDestination.
	Role string
	// Dir is the directory to create; it must not exist or be empty.
	Dir string
	// Module is the Go module path (default example.com/<Name>).
	Module string
	// SDKDir is the sdk checkout the go.mod replaces the sdk with (an
	// absolute path); empty leaves the plain require of SDKVersion.
	SDKDir string
	// SDKVersion is the sdk version required (default v0.0.0, which only
	// resolves through the replace).
	SDKVersion string
}

// namePattern is the shape of a connector id.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// data is what the templates see.
type data struct {
	Options
	// Ident is Name with dashes turned into underscores.
	Ident string
}

// Generate writes the module and returns the paths it wrote, relative to
// opts.Dir.
func Generate(opts Options) ([]string, error) {
	if !namePattern.MatchString(opts.Name) {
		return nil, fmt.Errorf("connector name %q: use lower-case letters, digits and dashes, starting with a letter (for example source-orders)", opts.Name)
	}
	if opts.Role != RoleSource && opts.Role != RoleDestination {
		return nil, fmt.Errorf("role %q: use source or destination", opts.Role)
	}
	if opts.Dir == "" {
		return nil, errors.New("no directory given")
	}
	if opts.Module == "" {
		opts.Module = "example.com/" + opts.Name
	}
	if opts.SDKVersion == "" {
		opts.SDKVersion = "v0.0.0"
	}
	if opts.SDKDir != "" && !filepath.IsAbs(opts.SDKDir) {
		return nil, fmt.Errorf("sdk directory %s: must be absolute", opts.SDKDir)
	}
	if err := emptyDir(opts.Dir); err != nil {
		return nil, err
	}
	d := data{Options: opts, Ident: strings.ReplaceAll(opts.Name, "-", "_")}
	var wrote []string
	for _, dir := range []string{"templates/common", "templates/" + opts.Role} {
		entries, err := fs.ReadDir(templates, dir)
		if err != nil {
			return wrote, err
		}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".tmpl")
			if name == "gitignore" {
				name = ".gitignore"
			}
			if err := render(path.Join(dir, e.Name()), filepath.Join(opts.Dir, name), d); err != nil {
				return wrote, err
			}
			wrote = append(wrote, name)
		}
	}
	return wrote, nil
}

// emptyDir creates dir, or accepts it when it exists and is empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("directory %s is not empty: choose another --dir", dir)
	}
	return nil
}

func render(src, dst string, d data) error {
	// [[ ]] delimiters: Go composite literals are full of {{ }}.
	t, err := template.New(path.Base(src)).Delims("[[", "]]").ParseFS(templates, src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return fmt.Errorf("render %s: %w", path.Base(dst), err)
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// FindSDK returns the sdk checkout among candidates (directories that may
// be a repository root or the sdk directory itself): the first whose go.mod
// declares SDKModule, as an absolute path, or "" when none does.
func FindSDK(candidates ...string) string {
	for _, c := range candidates {
		if c == "" {
			continue
		}
		for _, dir := range []string{c, filepath.Join(c, "sdk")} {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil || !bytes.Contains(b, []byte("module "+SDKModule+"\n")) {
				continue
			}
			if abs, err := filepath.Abs(dir); err == nil {
				return abs
			}
		}
	}
	return ""
}
