// Command rapidbyte-coordinator runs the Rapidbyte coordinator: it accepts
// pipeline runs over gRPC, dispatches their streams to workers and records
// their state.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/run"

	"github.com/rapidbyte/rapidbyte/coordinator/server"
)

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rapidbyte-coordinator:", err)
		os.Exit(1)
	}
}

func realMain(args []string) error {
	cfg := server.Default()
	fs := flag.NewFlagSet("rapidbyte-coordinator", flag.ContinueOnError)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address")
	fs.StringVar(&cfg.Workers, "workers", "", "workers: host:port list or dns:///name:port")
	fs.StringVar(&cfg.State, "state", cfg.State, "state store: sqlite:///path or postgres://...")
	fs.StringVar(&cfg.ConnectorsDir, "connectors-dir", os.Getenv("RAPIDBYTE_CONNECTORS_DIR"), "connector modules directory (':'-separated list allowed)")
	fs.StringVar(&cfg.AuthToken, "auth-token", os.Getenv("RAPIDBYTE_AUTH_TOKEN"), "bearer token required from clients and sent to workers (env RAPIDBYTE_AUTH_TOKEN)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate PEM file")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key PEM file")
	fs.StringVar(&cfg.WorkerCAFile, "worker-ca", "", "CA bundle to verify workers over TLS (empty: plaintext)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "Prometheus /metrics HTTP address (empty: off)")
	fs.IntVar(&cfg.MaxConcurrentRuns, "max-concurrent-runs", cfg.MaxConcurrentRuns, "runs executing at once")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "run lease duration: a run whose coordinator stopped is resumed by another (or the restarted) coordinator within about this long")
	fs.StringVar(&cfg.StateKey, "state-key", os.Getenv("RAPIDBYTE_STATE_KEY"), "key (16+ bytes) encrypting the submit-time values a resumed run needs (env RAPIDBYTE_STATE_KEY)")
	fs.BoolVar(&cfg.NoFailover, "no-failover", false, "fail unfinished runs at shutdown instead of leaving them for another coordinator to resume")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *version {
		fmt.Println(server.Version)
		return nil
	}
	if *logFormat != "text" && *logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", *logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "coordinator", Level: level, JSONFormat: *logFormat == "json"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	var g run.Group
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error { return srv.Serve(ctx, lis) }, func(error) { cancel() })
	err = g.Run()
	if errors.Is(err, run.ErrSignal) {
		log.Info("shutting down", "reason", err.Error())
		return nil
	}
	return err
}
