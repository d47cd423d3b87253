// Command rapidbyte-worker runs a Rapidbyte worker: the stateless gRPC
// server that hosts connector modules (WorkerService, Arrow Flight, health
// and reflection on one port). SIGINT or SIGTERM turns health NOT_SERVING,
// drains running streams and exits 0.
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

	"github.com/rapidbyte/rapidbyte/worker/server"
)

func main() {
	if err := runMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rapidbyte-worker:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func runMain(args []string) error {
	cfg := server.Default()
	fs := flag.NewFlagSet("rapidbyte-worker", flag.ContinueOnError)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address")
	fs.StringVar(&cfg.ConnectorsDir, "connectors-dir", os.Getenv("RAPIDBYTE_CONNECTORS_DIR"), "directory of <id>.wasm connector modules (env RAPIDBYTE_CONNECTORS_DIR)")
	fs.StringVar(&cfg.CacheDir, "cache-dir", envOr("RAPIDBYTE_CACHE_DIR", cfg.CacheDir), "compilation and module cache directory (env RAPIDBYTE_CACHE_DIR)")
	fs.StringVar(&cfg.CoordinatorAddr, "coordinator", "", "coordinator address to fetch missing modules from")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "bearer token required from clients and sent to the coordinator (env RAPIDBYTE_AUTH_TOKEN)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", cfg.MaxStreams, "maximum concurrent guest instances")
	fs.DurationVar(&cfg.QueueTimeout, "queue-timeout", cfg.QueueTimeout, "how long a request waits for a guest slot")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "default deadline of a request or stream")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long running streams may finish on shutdown")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "HTTP address for /metrics and /healthz (empty = off)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	version := fs.Bool("version", false, "print the version and exit")
	warmOnly := fs.Bool("warm-only", false, "compile every module in --connectors-dir into --cache-dir, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println(server.Version)
		return nil
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = os.Getenv("RAPIDBYTE_AUTH_TOKEN")
	}
	if *logFormat != "text" && *logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", *logFormat)
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("--log-level %q is not a level", *logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "worker", Level: level, JSONFormat: *logFormat == "json", Output: os.Stderr})

	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *warmOnly {
		n, err := srv.Warm(context.Background())
		if err != nil {
			return fmt.Errorf("warm cache: %w", err)
		}
		log.Info("compilation cache warm", "modules", n, "cache_dir", cfg.CacheDir)
		return nil
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", cfg.Listen, err)
	}

	var g run.Group
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	serveCtx, stop := context.WithCancel(context.Background())
	var serveErr error
	g.Add(func() error {
		serveErr = srv.Serve(serveCtx, lis)
		return serveErr
	}, func(error) { stop() })
	err = g.Run()
	switch {
	case serveErr != nil:
		return serveErr
	case errors.Is(err, run.ErrSignal):
		log.Info("shut down", "reason", err.Error())
		return nil
	default:
		return err
	}
}
