package main

import (
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
