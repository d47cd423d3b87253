package wasmhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

func TestNetPolicy(t *testing.T) {
	deny := append(append([]string{}, DefaultDeny...), "0.0.0.0:7071", "10.1.2.3:7070", "*.corp.example")
	tests := []struct {
		name  string
		allow []string
		addr  string
		ok    bool
	}{
		{"database on loopback", nil, "127.0.0.1:5432", true},
		{"database by name", nil, "localhost:5432", true},
		{"cloud metadata address", nil, "169.254.169.254:80", false},
		{"cloud metadata name", nil, "metadata.google.internal:80", false},
		{"ipv6 link-local", nil, "[fe80::1]:80", false},
		{"ipv4-mapped link-local", nil, "[::ffff:169.254.169.254]:80", false},
		{"worker's own port on loopback", nil, "127.0.0.1:7071", false},
		{"worker's own port by name", nil, "localhost:7071", false},
		{"coordinator", nil, "10.1.2.3:7070", false},
		{"coordinator's host, other port", nil, "10.1.2.3:5432", true},
		{"denied suffix", nil, "db.corp.example:5432", false},
		{"allow-list admits", []string{"127.0.0.0/8"}, "127.0.0.1:5432", true},
		{"allow-list refuses", []string{"10.0.0.0/8"}, "127.0.0.1:5432", false},
		{"allow-list by name", []string{"localhost:5432"}, "localhost:5432", true},
		{"allow-list cannot lift a deny", []string{"*"}, "169.254.169.254:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newNetPolicy(NetPolicy{Deny: deny, Allow: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			dial, err := p.check(context.Background(), tt.addr)
			if tt.ok && err != nil {
				t.Fatalf("check(%s) = %v, want allowed", tt.addr, err)
			}
			if !tt.ok && !errors.Is(err, errPolicyDenied) {
				t.Fatalf("check(%s) = %q, %v; want denied", tt.addr, dial, err)
			}
		})
	}
	if _, err := newNetPolicy(NetPolicy{Deny: []string{"10.0.0.0/33"}}); err == nil {
		t.Error("a malformed entry was accepted")
	}
}

// TestNetPolicyOverridesPipelineAllowList runs a real guest whose pipeline
// config allows every host ("*") against a runtime whose operator policy
// denies the address it dials: the dial is refused (permission/denied)
// although the pipeline allowed it, and a runtime with no such deny lets
// the same guest through.
func TestNetPolicyOverridesPipelineAllowList(t *testing.T) {
	echo := echoServer(t, false)
	for _, tc := range []struct {
		name   string
		deny   []string
		denied bool
	}{
		{"operator denies the address", []string{echo}, true},
		{"operator denies the address range", []string{"127.0.0.0/8"}, true},
		{"nothing denied", DefaultDeny, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rt, err := New(ctx, Config{CacheDir: cacheDir(), Net: NetPolicy{Deny: tc.deny}})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			m, err := rt.LoadFile(ctx, wasmPath("test-faulty"))
			if err != nil {
				t.Fatal(err)
			}
			sink := &collectSink{}
			defer sink.release()
			_, err = m.Read(ctx, readInvocation(t, map[string]any{"mode": "echo", "addr": echo, "host": "*"}), sink)
			if !tc.denied {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var e *guest.Error
			if !errors.As(err, &e) || e.Envelope.Category != abi.CategoryPermission || e.Envelope.Code != "denied" ||
				!strings.Contains(err.Error(), "network policy") {
				t.Fatalf("want permission/denied naming the network policy, got %v", err)
			}
		})
	}
}
