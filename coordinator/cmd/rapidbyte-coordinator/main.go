// Command rapidbyte-coordinator runs the Rapidbyte coordinator: it accepts
// pipeline runs over gRPC, dispatches their streams to workers and records
// their state.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/run"
	"github.com/peterbourgon/ff/v3"

	"github.com/rapidbyte/rapidbyte/coordinator/server"
)

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rapidbyte-coordinator:", err)
		os.Exit(1)
	}
}

// envPrefix names the environment variable of every flag: --auth-token is
// RAPIDBYTE_AUTH_TOKEN, --state RAPIDBYTE_STATE. A flag on the command line
// wins over its variable.
const envPrefix = "RAPIDBYTE"

// usage prints the flags with their environment variables. Defaults come
// from Default, never from the environment, so no secret is printed.
func usage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "Usage: rapidbyte-coordinator [flags]\nEvery flag can also be set as %s_<NAME> (--auth-token: %s_AUTH_TOKEN).\n", envPrefix, envPrefix)
		fs.PrintDefaults()
	}
}

// options are the parsed command line.
type options struct {
	cfg                 server.Config
	logFormat, logLevel string
	version             bool
}

// parse reads args, and RAPIDBYTE_* variables for flags not on the command
// line, writing usage and parse errors to stderr.
func parse(args []string, stderr io.Writer) (options, error) {
	o := options{cfg: server.Default()}
	cfg := &o.cfg
	fs := flag.NewFlagSet("rapidbyte-coordinator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage(fs)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address")
	fs.StringVar(&cfg.Workers, "workers", "", "workers: host:port list or dns:///name:port")
	fs.StringVar(&cfg.State, "state", cfg.State, "state store: sqlite:///path or postgres://...")
	fs.StringVar(&cfg.ConnectorsDir, "connectors-dir", "", "connector modules directory (':'-separated list allowed)")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "bearer token required from clients and sent to workers")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate PEM file")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key PEM file")
	fs.StringVar(&cfg.ClientCAFile, "client-ca", "", "with TLS, require client certificates (workers, the CLI) signed by this CA bundle (mutual TLS)")
	fs.StringVar(&cfg.WorkerCAFile, "worker-ca", "", "CA bundle to verify workers over TLS (empty: plaintext)")
	fs.StringVar(&cfg.WorkerCertFile, "worker-cert", "", "client certificate (PEM) presented to workers that require one (mutual TLS)")
	fs.StringVar(&cfg.WorkerKeyFile, "worker-key", "", "private key (PEM) of --worker-cert")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "Prometheus /metrics HTTP address (empty: off)")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof/ on --metrics-listen to bearers of --auth-token")
	fs.Func("env-allow", "comma-separated globs of environment variable names pipelines may read as ${VAR} (e.g. 'PG_*'); others come only from the client", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.EnvAllow = append(cfg.EnvAllow, p)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.MaxConcurrentRuns, "max-concurrent-runs", cfg.MaxConcurrentRuns, "runs executing at once")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "run lease duration: a run whose coordinator stopped is resumed by another (or the restarted) coordinator within about this long")
	fs.StringVar(&cfg.StateKey, "state-key", "", "key (16+ bytes) encrypting the submit-time values a resumed run needs")
	fs.BoolVar(&cfg.NoFailover, "no-failover", false, "fail unfinished runs at shutdown instead of leaving them for another coordinator to resume")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix)); err != nil {
		return o, err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	return o, nil
}

func realMain(args []string) error {
	o, err := parse(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		fmt.Println(server.Version)
		return nil
	}
	cfg := o.cfg
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", o.logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "coordinator", Level: level, JSONFormat: o.logFormat == "json"})
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
