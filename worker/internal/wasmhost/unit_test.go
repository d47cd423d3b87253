package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestAllowList(t *testing.T) {
	a := newAllowList(json.RawMessage(`{"host":"DB.internal","hosts":["replica:6432","a, b"],"port":5432}`),
		[]string{"*.corp.example", "cache:6379"}, nil)
	tests := []struct {
		addr string
		want bool
	}{
		{"db.internal:5432", true},
		{"db.internal:1", true}, // host without port allows every port
		{"replica:6432", true},
		{"replica:5432", false},
		{"a:1", true},
		{"b:2", true},
		{"x.corp.example:443", true},
		{"corp.example:443", false},
		{"cache:6379", true},
		{"cache:6380", false},
		{"evil:5432", false},
		{"db.internal", false}, // no port
		{"[::1]:5432", false},
	}
	for _, tc := range tests {
		if got := a.allows(tc.addr); got != tc.want {
			t.Errorf("allows(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if !newAllowList(nil, []string{"*"}).allows("anything:1") {
		t.Error(`"*" does not allow everything`)
	}
	if newAllowList(json.RawMessage(`not json`)).allows("x:1") {
		t.Error("empty allow-list allows")
	}
}

func TestExportErrClassification(t *testing.T) {
	in := &instance{connector: "c", op: "read", logger: hclog.NewNullLogger(), stderr: newLogWriter(hclog.NewNullLogger(), hclog.Warn, 64)}
	ctx := context.Background()
	tests := []struct {
		name   string
		env    string
		got    bool
		code   string
		cat    string
		denied bool
	}{
		{name: "no envelope", code: "no_envelope", cat: abi.CategoryInternal},
		{name: "not json", env: `{nope`, got: true, code: "bad_envelope", cat: abi.CategoryInternal},
		{name: "unknown field", env: `{"category":"data","message":"m","extra":1}`, got: true, code: "bad_envelope", cat: abi.CategoryInternal},
		{name: "invalid category", env: `{"category":"weird","message":"m"}`, got: true, code: "bad_envelope", cat: abi.CategoryInternal},
		{name: "valid", env: `{"category":"transient_db","code":"x","message":"m","retryable":true,"safe_to_retry":true}`, got: true, code: "x", cat: abi.CategoryTransientDB},
		{name: "denied dial wins", env: `{"category":"transient_network","code":"x","message":"m"}`, got: true, code: "denied", cat: abi.CategoryPermission, denied: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.errEnv, in.gotErr, in.denied = []byte(tc.env), tc.got, nil
			if tc.denied {
				in.denied = []string{`"evil:1"`}
			}
			e := in.exportErr(ctx, "rb_read", -1, nil)
			if e == nil || e.Envelope.Code != tc.code || e.Envelope.Category != tc.cat || e.Connector != "c" {
				t.Fatalf("got %+v", e)
			}
		})
	}
	if e := in.exportErr(ctx, "rb_read", 0, nil); e != nil {
		t.Errorf("success classified as %v", e)
	}
}

func TestDeadlineClassification(t *testing.T) {
	rt := &Runtime{cfg: Config{CancelGrace: 2 * time.Second}}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name      string
		op        string
		callErr   error
		category  string
		code      string
		retryable bool
		safe      bool
	}{
		{"returned after the deadline", "read", nil, abi.CategoryTransientNetwork, CodeDeadline, true, true},
		{"trapped after the deadline", "read", errors.New("module closed with exit_code(4026531839)"), abi.CategoryTransientNetwork, CodeDeadline, true, true},
		{"write returned after the deadline", "write", nil, abi.CategoryTransientNetwork, CodeDeadline, true, false},
		{"abandoned read", "read", ErrAbandoned, abi.CategoryInternal, CodeUnresponsive, false, false},
		{"abandoned write", "write", fmt.Errorf("call: %w", ErrAbandoned), abi.CategoryInternal, CodeUnresponsive, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &instance{r: rt, connector: "c", op: tc.op, logger: hclog.NewNullLogger(), stderr: newLogWriter(hclog.NewNullLogger(), hclog.Warn, 64)}
			e := in.exportErr(ctx, "rb_"+tc.op, 0, tc.callErr)
			if e == nil {
				t.Fatal("no error")
			}
			env := e.Envelope
			if env.Category != tc.category || env.Code != tc.code || env.Retryable != tc.retryable || env.SafeToRetry != tc.safe {
				t.Fatalf("got %+v", env)
			}
			if tc.code == CodeUnresponsive && (env.Hint == "" || !errors.Is(e, ErrAbandoned) || !strings.Contains(env.Message, "2s")) {
				t.Errorf("unresponsive error lacks hint, cause or grace: %+v", env)
			}
			if tc.op == "write" && tc.retryable && env.CommitState != abi.CommitAfterUnknown {
				t.Errorf("write timeout commit state %q", env.CommitState)
			}
		})
	}
	// Cancellation stays cancellation, abandoned or not.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	in := &instance{r: rt, connector: "c", op: "read", logger: hclog.NewNullLogger(), stderr: newLogWriter(hclog.NewNullLogger(), hclog.Warn, 64)}
	if e := in.exportErr(cctx, "rb_read", 0, ErrAbandoned); e == nil || e.Envelope.Category != abi.CategoryCancelled {
		t.Errorf("abandoned after cancel: %+v", e)
	}
}
