package pgclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &PgError{Code: code}) }
	tests := []struct {
		err  error
		want Class
	}{
		{pg("28P01"), Class{abi.CategoryAuth, "28P01", false}},
		{pg("28000"), Class{abi.CategoryAuth, "28000", false}},
		{pg("3D000"), Class{abi.CategoryConfig, "3D000", false}},
		{pg("42P01"), Class{abi.CategoryConfig, "42P01", false}},
		{pg("42703"), Class{abi.CategoryConfig, "42703", false}},
		{pg("42501"), Class{abi.CategoryPermission, "42501", false}},
		{pg("40001"), Class{abi.CategoryTransientDB, "40001", true}},
		{pg("40P01"), Class{abi.CategoryTransientDB, "40P01", true}},
		{pg("57P01"), Class{abi.CategoryTransientDB, "57P01", true}},
		{pg("57P03"), Class{abi.CategoryTransientDB, "57P03", true}},
		{pg("08006"), Class{abi.CategoryTransientDB, "08006", true}},
		{pg("53300"), Class{abi.CategoryTransientDB, "53300", true}},
		{pg("22003"), Class{abi.CategoryData, "22003", false}},
		{pg("23505"), Class{abi.CategoryData, "23505", false}},
		{pg("42804"), Class{abi.CategorySchema, "42804", false}},
		{fmt.Errorf("read: %w", io.EOF), Class{abi.CategoryTransientNetwork, "connection", true}},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), Class{abi.CategoryTransientNetwork, "connection", true}},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), Class{abi.CategoryTransientNetwork, "connection", true}},
		{context.Canceled, Class{abi.CategoryCancelled, "cancelled", false}},
		{errors.New("boom"), Class{abi.CategoryInternal, "internal", false}},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, Classify(tc.err)); d != "" {
			t.Errorf("Classify(%v) (-want +got):\n%s", tc.err, d)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ msg, pw, want string }{
		{"failed: password=hunter2 host=x", "", "failed: password=[redacted] host=x"},
		{"auth for user u with hunter2 failed", "hunter2", "auth for user u with [redacted] failed"},
		{"postgres://u:hunter2@h/db?password=abc&x=1", "hunter2", "postgres://u:[redacted]@h/db?password=[redacted]&x=1"},
		{"a password=x b password=y", "", "a password=[redacted] b password=[redacted]"},
	}
	for _, tc := range tests {
		if got := Sanitize(tc.msg, tc.pw); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Port: 70000, SSLMode: "prefer", ConnectTimeout: -1}.Validate()
	for _, want := range []string{"host is required", "port 70000", "user is required", "database is required", "sslmode", "connect_timeout"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
	if err := (Config{Host: "h", User: "u", Database: "d"}).WithDefaults().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}
