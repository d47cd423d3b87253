package pipeline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsSecretKey(t *testing.T) {
	tests := []struct {
		key   string
		extra []string
		want  bool
	}{
		{"password", nil, true},
		{"PASSWORD", nil, true},
		{"Api-Key", nil, true},
		{"client_secret", nil, true},
		{"access_token", nil, true},
		{"ssh_private_key", nil, true},
		{"token", nil, true},
		{"primary_key", nil, false},
		{"tokens_per_second", nil, false},
		{"user", nil, false},
		{"sslkey", []string{"SSLKey"}, true},
		{"sslkey", []string{"auth.sslkey"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := IsSecretKey(tt.key, tt.extra); got != tt.want {
				t.Errorf("IsSecretKey(%q, %v) = %v", tt.key, tt.extra, got)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	cfg := map[string]any{
		"host":     "h",
		"password": "hunter2",
		"Token":    int64(12345),
		"auth":     map[string]any{"client_secret": "s", "user": "u", "cert": "c"},
		"replicas": []any{map[string]any{"host": "r1", "api_key": "k"}, "postgres://u:pw@r2/db"},
		"dsn":      "postgres://app:hunter2@h:5432/db?sslmode=disable",
		"url":      "https://example.com/x",
		"sslkey":   "PEM",
	}
	got := Redact(cfg, []string{"sslkey", "auth.cert"})
	want := map[string]any{
		"host":     "h",
		"password": Redacted,
		"Token":    Redacted,
		"auth":     map[string]any{"client_secret": Redacted, "user": "u", "cert": Redacted},
		"replicas": []any{map[string]any{"host": "r1", "api_key": Redacted}, "postgres://u:***@r2/db"},
		"dsn":      "postgres://app:***@h:5432/db?sslmode=disable",
		"url":      "https://example.com/x",
		"sslkey":   Redacted,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Redact (-want +got):\n%s", diff)
	}
	if cfg["password"] != "hunter2" || cfg["auth"].(map[string]any)["client_secret"] != "s" {
		t.Error("Redact modified its input")
	}
	if Redact(nil, nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	paths := SecretPaths(cfg, []string{"sslkey", "auth.cert"})
	wantPaths := []string{"Token", "auth.cert", "auth.client_secret", "password", "replicas[0].api_key", "sslkey"}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("SecretPaths (-want +got):\n%s", diff)
	}
}

func TestRedactYAML(t *testing.T) {
	src := `version: "1.0"
pipeline: p
source:
  use: source-postgres
  # the password comes from the environment
  config: {host: h, password: ${PG_PASSWORD}, dsn: "postgres://a:literal@h/db"}
  streams: [{name: users}]
destination:
  use: dest-postgres
  config:
    password: hunter2
    token: {nested: value}
    user: app
state: {backend: postgres, connection: "postgres://u:statepw@h/s"}
`
	out, err := RedactYAML([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, secret := range []string{"hunter2", "literal", "statepw", "nested"} {
		if strings.Contains(text, secret) {
			t.Errorf("redacted YAML still contains %q:\n%s", secret, text)
		}
	}
	if !strings.Contains(text, "# the password comes from the environment") {
		t.Errorf("comment lost:\n%s", text)
	}
	// The result parses and keeps the reference, so it can be resolved later.
	p, err := Parse(out, vars("PG_PASSWORD", "x"))
	if err != nil {
		t.Fatalf("redacted YAML does not parse: %v\n%s", err, text)
	}
	if p.Source.Config["password"] != "${PG_PASSWORD}" || p.Destination.Config["password"] != Redacted ||
		p.Destination.Config["token"] != Redacted || p.Destination.Config["user"] != "app" {
		t.Errorf("configs after redaction: %v / %v", p.Source.Config, p.Destination.Config)
	}
	t.Run("nothing to redact is unchanged", func(t *testing.T) {
		out, err := RedactYAML([]byte(minimal), nil)
		if err != nil || string(out) != minimal {
			t.Errorf("RedactYAML changed a secret-free pipeline: %v\n%s", err, out)
		}
	})
	t.Run("invalid YAML", func(t *testing.T) {
		if _, err := RedactYAML([]byte("a: [\n"), nil); err == nil {
			t.Error("RedactYAML accepted invalid YAML")
		}
	})
}
