// Command rbpack validates a connector manifest and embeds it in a wasm
// module's rapidbyte.manifest custom section (replacing an existing one):
//
//	rbpack -manifest manifest.json -wasm <id>.wasm
//
// Install it with the sdk's module path (the sdk module has no replace
// directives, so this works wherever the sdk version is reachable):
//
//	go install github.com/rapidbyte/rapidbyte/sdk/cmd/rbpack@<version>
//
// Before an sdk release is published, a connector module that replaces the
// sdk with a checkout (`go mod edit -replace
// github.com/rapidbyte/rapidbyte/sdk=/path/to/rapidbyte/sdk`) runs it as a
// tool (`go get -tool github.com/rapidbyte/rapidbyte/sdk/cmd/rbpack`, then
// `go tool rbpack ...`; `rapidbyte connector init` sets this up), and in
// this repository `go -C sdk run ./cmd/rbpack` does.
//
// The section holds the manifest as protojson of
// rapidbyte.v1.ConnectorManifest (see abi.Manifest). abi_version defaults
// to abi.Version when the manifest omits it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// dataSegmentGap is the longest run of zeros rbpack writes out to join two
// data segments. Go's linker starts a new segment after 8 zeros; at 4 KiB
// a PostgreSQL connector's 99,999 segments become one, for 1 MB more data.
const dataSegmentGap = 4 << 10

func main() {
	manifestPath := flag.String("manifest", "", "path to manifest.json")
	wasmPath := flag.String("wasm", "", "path to the .wasm module, rewritten in place")
	flag.Parse()
	if err := run(*manifestPath, *wasmPath); err != nil {
		fmt.Fprintln(os.Stderr, "rbpack:", err)
		os.Exit(1)
	}
}

func run(manifestPath, wasmPath string) error {
	if manifestPath == "" || wasmPath == "" {
		return fmt.Errorf("usage: rbpack -manifest FILE -wasm FILE")
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	var m abi.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("parse manifest %s: %w", manifestPath, err)
	}
	if m.ABIVersion == 0 {
		m.ABIVersion = abi.Version
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", manifestPath, err)
	}
	// digest and size describe the final module; the registry fills them.
	m.Digest, m.SizeBytes = "", 0
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("read module: %w", err)
	}
	out, err := abi.EmbedManifest(wasm, payload)
	if err != nil {
		return fmt.Errorf("embed manifest in %s: %w", wasmPath, err)
	}
	if out, err = abi.CoalesceDataSegments(out, dataSegmentGap); err != nil {
		return fmt.Errorf("coalesce data segments of %s: %w", wasmPath, err)
	}
	tmp := wasmPath + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("write module: %w", err)
	}
	if err := os.Rename(tmp, wasmPath); err != nil {
		return fmt.Errorf("replace module: %w", err)
	}
	return nil
}
