package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTypeRoundTrip(t *testing.T) {
	tests := []struct {
		in, canonical string
		kind          Kind
		bufs, nodes   int
	}{
		{"bool", "bool", KindBool, 2, 1},
		{"int8", "int8", KindInt8, 2, 1},
		{"int16", "int16", KindInt16, 2, 1},
		{"int32", "int32", KindInt32, 2, 1},
		{"int64", "int64", KindInt64, 2, 1},
		{"uint8", "uint8", KindUint8, 2, 1},
		{"uint64", "uint64", KindUint64, 2, 1},
		{"float32", "float32", KindFloat32, 2, 1},
		{"float64", "float64", KindFloat64, 2, 1},
		{"utf8", "utf8", KindUtf8, 3, 1},
		{"string", "utf8", KindUtf8, 3, 1},
		{"binary", "binary", KindBinary, 3, 1},
		{"date32", "date32", KindDate32, 2, 1},
		{"time64[us]", "time64[us]", KindTime64, 2, 1},
		{"time32[ms]", "time32[ms]", KindTime32, 2, 1},
		{"timestamp[us]", "timestamp[us]", KindTimestamp, 2, 1},
		{"timestamp[us, UTC]", "timestamp[us, UTC]", KindTimestamp, 2, 1},
		{"timestamp[ns,America/New_York]", "timestamp[ns, America/New_York]", KindTimestamp, 2, 1},
		{"decimal128(12, 2)", "decimal128(12, 2)", KindDecimal128, 2, 1},
		{"decimal256(76,0)", "decimal256(76, 0)", KindDecimal256, 2, 1},
		{"interval_mdn", "interval_mdn", KindIntervalMDN, 2, 1},
		{"list<int32>", "list<int32>", KindList, 4, 2},
		{" list< list<utf8> > ", "list<list<utf8>>", KindList, 7, 3},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			typ, err := ParseType(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if typ.Kind != tc.kind || typ.String() != tc.canonical {
				t.Fatalf("got %v %q", typ.Kind, typ.String())
			}
			again, err := ParseType(typ.String())
			if err != nil || !again.Equal(typ) {
				t.Fatalf("round trip: %v %v", again, err)
			}
			if typ.BufferCount() != tc.bufs || typ.Nodes() != tc.nodes {
				t.Errorf("buffers %d nodes %d", typ.BufferCount(), typ.Nodes())
			}
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	for _, in := range []string{"", "int", "int64x", "timestamp", "timestamp[xs]", "timestamp[us, ]", "time64[ms]",
		"time32[us]", "decimal128(0, 0)", "decimal128(39, 2)", "decimal128(5, 6)", "decimal128(a, 1)",
		"list", "list<int32", "list<>", "list<foo>", "int64 int64", strings.Repeat("list<", 40) + "int8" + strings.Repeat(">", 40)} {
		if _, err := ParseType(in); !errors.Is(err, ErrBadType) {
			t.Errorf("ParseType(%q) = %v, want ErrBadType", in, err)
		}
	}
}

func TestManifestJSON(t *testing.T) {
	in := `{"id":"source-x","version":"1.2.0","roles":["ROLE_SOURCE","ROLE_DESTINATION"],
		"sync_modes":["SYNC_MODE_INCREMENTAL"],"write_modes":["WRITE_MODE_UPSERT"],
		"config_schema":"{\"type\": \"object\"}","permissions":{"allowed_hosts":["db:5432"],"env_vars":["TZ"]},
		"abi_version":1,"size_bytes":"42","secret_fields":["password"],"capabilities":{"partitions":true}}`
	var m Manifest
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := Manifest{ID: "source-x", Version: "1.2.0", Roles: []string{RoleSource, RoleDestination},
		SyncModes: []string{SyncIncremental}, WriteModes: []string{WriteUpsert}, ConfigSchema: json.RawMessage(`{"type": "object"}`),
		Permissions: Permissions{AllowedHosts: []string{"db:5432"}, EnvVars: []string{"TZ"}}, ABIVersion: 1, SizeBytes: 42,
		SecretFields: []string{"password"}, Capabilities: Capabilities{Partitions: true}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"roles":["ROLE_SOURCE","ROLE_DESTINATION"]`) || !strings.Contains(string(out), `"config_schema":"{\"type\":\"object\"}"`) {
		t.Errorf("not protojson-shaped: %s", out)
	}
	var back Manifest
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	want.ConfigSchema = json.RawMessage(`{"type":"object"}`)
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Short names and an inline schema object are accepted too.
	if err := json.Unmarshal([]byte(`{"id":"a","version":"1","roles":["source"],"sync_modes":["full_refresh"],"config_schema":{"type":"object"},"abi_version":1,"size_bytes":7}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Roles[0] != RoleSource || string(back.ConfigSchema) != `{"type":"object"}` || back.SizeBytes != 7 {
		t.Errorf("short form: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"id":"a","bogus":1}`), &back); err == nil {
		t.Error("unknown field accepted")
	}
	bad := Manifest{Roles: []string{"sink"}, SyncModes: []string{"sometimes"}}
	err = bad.Validate()
	for _, s := range []string{"id is required", "version is required", `unknown value "sink"`, `unknown value "sometimes"`, "abi_version"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Validate() = %v, want it to mention %q", err, s)
		}
	}
}

func TestManifestSection(t *testing.T) {
	// A minimal module with one custom section "other".
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = append(wasm, 0, 7, 5, 'o', 't', 'h', 'e', 'r', 'x')
	if _, err := ReadManifest(wasm); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("want ErrNoManifest, got %v", err)
	}
	payload := []byte(`{"id":"a","version":"1","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":1}`)
	out, err := EmbedManifest(wasm, payload)
	if err != nil {
		t.Fatal(err)
	}
	once := len(out)
	out, err = EmbedManifest(out, payload) // replaces, not duplicates
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != once || once != len(wasm)+1+1+1+len(ManifestSection)+len(payload) {
		t.Errorf("module sizes %d then %d", once, len(out))
	}
	m, err := ReadManifest(out)
	if err != nil || m.ID != "a" {
		t.Fatalf("read back: %+v %v", m, err)
	}
	raw, _ := ReadManifestSection(out)
	if string(raw) != string(payload) {
		t.Errorf("payload %q", raw)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm\x02\x00\x00\x00"), append([]byte("\x00asm\x01\x00\x00\x00"), 0, 0x80)} {
		if _, err := ReadManifest(bad); err == nil {
			t.Errorf("ReadManifest(%q) accepted", bad)
		}
		if _, err := ReadManifestAt(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Errorf("ReadManifestAt(%q) accepted", bad)
		}
	}
	// ReadManifestAt finds the same manifest behind sections of every
	// header size, custom ones with names like the manifest's included.
	big := append([]byte(nil), wasm...)
	for _, n := range []int{0, 1, 127, 128, 300, 20000} {
		big = append(big, 1) // type section, its payload n bytes
		big = append(big, appendULEB(nil, uint64(n))...)
		big = append(big, make([]byte, n)...)
	}
	for _, name := range []string{ManifestSection[:len(ManifestSection)-1], ManifestSection + "x", "r"} {
		body := append(appendULEB(nil, uint64(len(name))), name...)
		big = append(append(append(big, 0), appendULEB(nil, uint64(len(body)))...), body...)
	}
	for _, mod := range [][]byte{out, big} {
		withManifest, err := EmbedManifest(mod, payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifestAt(bytes.NewReader(withManifest), int64(len(withManifest)))
		if err != nil || m.ID != "a" {
			t.Errorf("ReadManifestAt: %+v %v", m, err)
		}
		if _, err := ReadManifestAt(bytes.NewReader(withManifest), int64(len(withManifest)-1)); err == nil {
			t.Error("ReadManifestAt accepted a truncated module")
		}
	}
	if _, err := ReadManifestAt(bytes.NewReader(big), int64(len(big))); !errors.Is(err, ErrNoManifest) {
		t.Errorf("ReadManifestAt without a manifest: %v", err)
	}
	// A custom section whose name runs past its end is refused, as
	// ReadManifest refuses it, even when the bytes after it spell the
	// manifest's name or a manifest follows.
	withManifest, err := EmbedManifest(wasm, payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		append(append([]byte("\x00asm\x01\x00\x00\x00\x00\x01\x12"), ManifestSection...), make([]byte, 8)...),
		append([]byte("\x00asm\x01\x00\x00\x00\x00\x02\x7fx"), withManifest[8:]...),
	} {
		if _, err := ReadManifest(bad); err == nil {
			t.Errorf("ReadManifest(%q) accepted", bad)
		}
		if _, err := ReadManifestAt(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Errorf("ReadManifestAt(%q) accepted", bad)
		}
	}
}

// FuzzReadManifestAt checks that ReadManifestAt never panics and finds
// what ReadManifest finds.
func FuzzReadManifestAt(f *testing.F) {
	payload := []byte(`{"id":"a","version":"1","roles":["ROLE_SOURCE"],"sync_modes":["SYNC_MODE_FULL_REFRESH"],"abi_version":1}`)
	mod, err := EmbedManifest([]byte("\x00asm\x01\x00\x00\x00\x01\x03abc"), payload)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mod)
	f.Add(append(append([]byte("\x00asm\x01\x00\x00\x00\x00\x01\x12"), ManifestSection...), make([]byte, 8)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := ReadManifestAt(bytes.NewReader(b), int64(len(b)))
		want, werr := ReadManifest(b)
		if werr == nil && (gerr != nil || got.ID != want.ID || got.Version != want.Version) {
			t.Fatalf("ReadManifestAt = %+v, %v; ReadManifest found %+v", got, gerr, want)
		}
	})
}

func TestErrorEnvelope(t *testing.T) {
	e := NewErrorEnvelope(CategoryRateLimit, "", "slow down")
	if !e.Retryable || !e.SafeToRetry || e.BackoffClass != BackoffSlow || e.Code != "rate_limit" {
		t.Errorf("rate limit defaults: %+v", e)
	}
	if d := NewErrorEnvelope(CategoryData, "x", "bad row"); d.Retryable || d.Scope != ScopeRecord {
		t.Errorf("data defaults: %+v", d)
	}
	if u := NewErrorEnvelope("weird", "", "m"); u.Category != CategoryInternal {
		t.Errorf("unknown category kept: %+v", u)
	}
	bad := ErrorEnvelope{Category: CategoryTransientDB, Message: "m", SafeToRetry: true, CommitState: CommitAfterUnknown}
	if err := bad.Validate(); err == nil {
		t.Error("after_commit_unknown + safe_to_retry accepted")
	}
	if got := NewErrorEnvelope(CategoryTransientNetwork, "conn", "reset").String(); got != "[transient_network/stream] conn (retryable): reset" {
		t.Errorf("String() = %q", got)
	}
}
