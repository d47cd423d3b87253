package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const withSecrets = `version: "1.0"
pipeline: p
source:
  use: source-postgres
  config:
    host: ${HOST}
    port: ${PORT}
    quoted_port: "${PORT}"
    tagged: !!str ${PORT}
    password: ${PG_PASSWORD}
    dsn: postgres://app:${PG_PASSWORD}@${HOST}:${PORT}/db
    literal: $${NOT_A_VAR}
    nested: {list: [${HOST}, 2, true, null, 1.5]}
    flag: ${FLAG}
  streams: [{name: users}]
destination:
  use: dest-postgres
  config: {password: "${PG_PASSWORD}", api_key: ${KEY}}
state: {backend: postgres, connection: "postgres://u:${PG_PASSWORD}@h/s"}
`

var allVars = vars("HOST", "db.internal", "PORT", "6543", "PG_PASSWORD", "p@ss: {w}", "KEY", "k-123", "FLAG", "true")

func TestResolve(t *testing.T) {
	p, err := Parse([]byte(withSecrets), allVars)
	if err != nil {
		t.Fatal(err)
	}
	// The parsed pipeline keeps references: safe to store and log.
	wantRaw := map[string]any{
		"host": "${HOST}", "port": "${PORT}", "quoted_port": "${PORT}", "tagged": "${PORT}",
		"password": "${PG_PASSWORD}", "dsn": "postgres://app:${PG_PASSWORD}@${HOST}:${PORT}/db",
		"literal": "$${NOT_A_VAR}", "nested": map[string]any{"list": []any{"${HOST}", int64(2), true, nil, 1.5}},
		"flag": "${FLAG}",
	}
	if diff := cmp.Diff(wantRaw, p.Source.Config); diff != "" {
		t.Errorf("Source.Config (-want +got):\n%s", diff)
	}
	r, err := p.Resolve(allVars)
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{
		Source: map[string]any{
			"host": "db.internal", "port": int64(6543), "quoted_port": "6543", "tagged": "6543",
			"password": "p@ss: {w}", "dsn": "postgres://app:p@ss: {w}@db.internal:6543/db",
			"literal": "${NOT_A_VAR}", "nested": map[string]any{"list": []any{"db.internal", int64(2), true, nil, 1.5}},
			"flag": true,
		},
		Destination:     map[string]any{"password": "p@ss: {w}", "api_key": "k-123"},
		StateConnection: "postgres://u:p@ss: {w}@h/s",
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if strings.Contains(p.Source.Config["password"].(string), "p@ss") {
		t.Error("Resolve modified the pipeline")
	}
}

func TestResolveMissingVariable(t *testing.T) {
	p, err := Parse([]byte(withSecrets), allVars)
	if err != nil {
		t.Fatal(err)
	}
	// At dispatch the variable is gone: the error names it and its line,
	// never a value.
	_, err = p.Resolve(vars("HOST", "h", "PORT", "1", "KEY", "k", "FLAG", "false"))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Resolve err = %v, want *ValidationError", err)
	}
	want := []string{
		"10:15: source.config.password: variable ${PG_PASSWORD} is not set",
		"11:10: source.config.dsn: variable ${PG_PASSWORD} is not set",
		"18:22: destination.config.password: variable ${PG_PASSWORD} is not set",
		"19:40: state.connection: variable ${PG_PASSWORD} is not set",
	}
	var got []string
	for _, pr := range ve.Problems {
		got = append(got, pr.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestResolveHandBuilt(t *testing.T) {
	p := &Pipeline{
		Source:      Source{Config: map[string]any{"pw": "${PW}", "list": []any{"$${X}", int64(1)}}},
		Destination: Destination{Config: map[string]any{"n": 3}},
	}
	r, err := p.Resolve(vars("PW", "s"))
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{Source: map[string]any{"pw": "s", "list": []any{"${X}", int64(1)}}, Destination: map[string]any{"n": 3}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if _, err := p.Resolve(nil); err == nil || !strings.Contains(err.Error(), "${PW}") {
		t.Errorf("Resolve(nil) = %v, want unset ${PW}", err)
	}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"plain", nil},
		{"${A}", []string{"A"}},
		{"x${A}y${B_2}z", []string{"A", "B_2"}},
		{"$${A}", nil},
		{"$$${A}", nil}, // "$${" is an escape, leaving "A}"
		{"${A", nil},
		{"$A {B}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, References(tt.in)); diff != "" {
				t.Errorf("References (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapLookup(t *testing.T) {
	env := vars("A", "env", "B", "env")
	l := MapLookup(map[string]string{"A": "req"}, env)
	for name, want := range map[string]string{"A": "req", "B": "env"} {
		if got, ok := l(name); !ok || got != want {
			t.Errorf("lookup(%s) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := l("C"); ok {
		t.Error("lookup(C) found")
	}
}

func TestAllowEnv(t *testing.T) {
	env := vars("PG_PASSWORD", "pw", "RAPIDBYTE_AUTH_TOKEN", "token", "PGHOST", "h")
	tests := []struct {
		name     string
		patterns []string
		want     map[string]bool
	}{
		{"none", nil, map[string]bool{"PG_PASSWORD": false, "RAPIDBYTE_AUTH_TOKEN": false}},
		{"glob", []string{"PG_*"}, map[string]bool{"PG_PASSWORD": true, "PGHOST": false, "RAPIDBYTE_AUTH_TOKEN": false}},
		{"names", []string{"PGHOST", "PG_PASSWORD"}, map[string]bool{"PG_PASSWORD": true, "PGHOST": true, "RAPIDBYTE_AUTH_TOKEN": false}},
		{"all", []string{"*"}, map[string]bool{"PG_PASSWORD": true, "RAPIDBYTE_AUTH_TOKEN": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := AllowEnv(env, tt.patterns)
			for name, want := range tt.want {
				if _, ok := l(name); ok != want {
					t.Errorf("lookup(%s) found = %v, want %v", name, ok, want)
				}
			}
		})
	}
	for _, bad := range []string{"[", "", "a/b"} {
		if err := CheckEnvAllow([]string{bad}); err == nil {
			t.Errorf("CheckEnvAllow(%q) accepted it", bad)
		}
	}
	if err := CheckEnvAllow([]string{"PG_*", "*", "X"}); err != nil {
		t.Error(err)
	}
}
