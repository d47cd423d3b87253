package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEnvironmentSetsEveryFlag checks the flag/env layer: RAPIDBYTE_STATE
// and the others set their flags, a flag on the command line wins, and a
// mistyped flag prints usage without the token's value.
func TestEnvironmentSetsEveryFlag(t *testing.T) {
	t.Setenv("RAPIDBYTE_STATE", "sqlite:///var/lib/rapidbyte/state.db")
	t.Setenv("RAPIDBYTE_WORKERS", "dns:///w:7071")
	t.Setenv("RAPIDBYTE_AUTH_TOKEN", "s3cret-token")
	t.Setenv("RAPIDBYTE_MAX_CONCURRENT_RUNS", "3")
	var out bytes.Buffer
	o, err := parse([]string{"--workers=127.0.0.1:7071"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.State != "sqlite:///var/lib/rapidbyte/state.db" || o.cfg.AuthToken != "s3cret-token" || o.cfg.MaxConcurrentRuns != 3 {
		t.Errorf("from the environment: state %q, token set %v, max runs %d", o.cfg.State, o.cfg.AuthToken != "", o.cfg.MaxConcurrentRuns)
	}
	if o.cfg.Workers != "127.0.0.1:7071" {
		t.Errorf("workers %q: the command line must win over RAPIDBYTE_WORKERS", o.cfg.Workers)
	}

	out.Reset()
	if _, err := parse([]string{"--auth-tokn=x"}, &out); err == nil {
		t.Fatal("a mistyped flag was accepted")
	}
	if strings.Contains(out.String(), "s3cret-token") {
		t.Errorf("usage prints the token:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "-auth-token") || !strings.Contains(out.String(), "RAPIDBYTE_") {
		t.Errorf("usage lacks the flags or their variables:\n%s", out.String())
	}
}
