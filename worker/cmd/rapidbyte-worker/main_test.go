package main

import (
	"bytes"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- runMain([]string{"--listen", "127.0.0.1:0", "--cache-dir", t.TempDir(), "--connectors-dir", "", "--log-level", "warn"})
	}()
	// Our own subscription keeps SIGTERM from killing the test binary
	// before the worker's handler is installed; resend until it stops.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM)
	defer signal.Stop(sigs)
	deadline := time.After(30 * time.Second)
	for {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runMain after SIGTERM = %v, want nil", err)
			}
			return
		case <-deadline:
			t.Fatal("worker did not stop on SIGTERM")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"log format", []string{"--log-format", "xml"}, "--log-format"},
		{"log level", []string{"--log-level", "loud"}, "--log-level"},
		{"config", []string{"--max-streams", "0", "--cache-dir", "/tmp"}, "max streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := runMain(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runMain(%v) = %v, want an error about %s", tt.args, err, tt.want)
			}
		})
	}
}

// TestEnvironmentSetsEveryFlag checks the flag/env layer: every flag has a
// RAPIDBYTE_* variable, a flag on the command line wins, and a mistyped
// flag prints usage without the token's value.
func TestEnvironmentSetsEveryFlag(t *testing.T) {
	t.Setenv("RAPIDBYTE_AUTH_TOKEN", "s3cret-token")
	t.Setenv("RAPIDBYTE_CACHE_DIR", "/from/env")
	t.Setenv("RAPIDBYTE_MAX_STREAMS", "3")
	t.Setenv("RAPIDBYTE_DRAIN_TIMEOUT", "7s")
	t.Setenv("RAPIDBYTE_PRELOAD", "source-postgres, dest-postgres")
	var out bytes.Buffer
	o, err := parse([]string{"--cache-dir=/from/flag"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.AuthToken != "s3cret-token" || o.cfg.MaxStreams != 3 || o.cfg.DrainTimeout != 7*time.Second {
		t.Errorf("from the environment: token set %v, max streams %d, drain %s", o.cfg.AuthToken != "", o.cfg.MaxStreams, o.cfg.DrainTimeout)
	}
	if got := strings.Join(o.cfg.Preload, ","); got != "source-postgres,dest-postgres" {
		t.Errorf("preload from RAPIDBYTE_PRELOAD: %q", got)
	}
	if o.cfg.CacheDir != "/from/flag" {
		t.Errorf("cache dir %q: the command line must win over RAPIDBYTE_CACHE_DIR", o.cfg.CacheDir)
	}
	out.Reset()
	if _, err := parse([]string{"--auth-tokn=x"}, &out); err == nil {
		t.Fatal("a mistyped flag was accepted")
	}
	if strings.Contains(out.String(), "s3cret-token") {
		t.Errorf("usage prints the token:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "-auth-token") {
		t.Errorf("usage lacks the flags:\n%s", out.String())
	}
}
