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
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/run"
	"github.com/peterbourgon/ff/v3"

	"github.com/rapidbyte/rapidbyte/worker/internal/cgroup"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
	"github.com/rapidbyte/rapidbyte/worker/server"
)

func main() {
	if err := runMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rapidbyte-worker:", err)
		os.Exit(1)
	}
}

// envPrefix names the environment variable of every flag: --auth-token is
// RAPIDBYTE_AUTH_TOKEN, --cache-dir RAPIDBYTE_CACHE_DIR. A flag on the
// command line wins over its variable.
const envPrefix = "RAPIDBYTE"

// usage prints the flags with their environment variables. Defaults come
// from Default, never from the environment, so no secret is printed.
func usage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "Usage: rapidbyte-worker [flags]\nEvery flag can also be set as %s_<NAME> (--auth-token: %s_AUTH_TOKEN).\n", envPrefix, envPrefix)
		fs.PrintDefaults()
	}
}

// listFlag appends the comma-separated entries of a flag's value to *dst.
func listFlag(dst *[]string) func(string) error {
	return func(v string) error {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				*dst = append(*dst, e)
			}
		}
		return nil
	}
}

// options are the parsed command line.
type options struct {
	cfg                 server.Config
	logFormat, logLevel string
	version, warmOnly   bool
	// goMemLimit is the Go memory limit the cgroup's memory limit asks for
	// (0: none); GOMEMLIMIT in the environment wins.
	goMemLimit int64
}

// parse reads args, and RAPIDBYTE_* variables for flags not on the command
// line, writing usage and parse errors to stderr.
func parse(args []string, stderr io.Writer) (options, error) {
	o := options{cfg: server.Default()}
	cfg := &o.cfg
	// Size to the container, not the node: flags and variables still win.
	limits, err := cgroup.Self()
	if err != nil {
		return o, fmt.Errorf("read cgroup limits: %w", err)
	}
	cfg.MaxStreams, o.goMemLimit = cgroup.Size(limits, runtime.NumCPU())
	cfg.MemoryBudget = cgroup.GuestBudget(limits)
	cfg.GuestMemoryMiB = uint32(cgroup.GuestMemory(limits, wasmhost.DefaultMemoryLimitMiB<<20) >> 20)
	fs := flag.NewFlagSet("rapidbyte-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage(fs)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address")
	fs.StringVar(&cfg.ConnectorsDir, "connectors-dir", "", "directory of <id>.wasm connector modules")
	fs.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "compilation and module cache directory")
	fs.StringVar(&cfg.CoordinatorAddr, "coordinator", "", "coordinator address to fetch missing modules from")
	fs.StringVar(&cfg.CoordinatorCAFile, "coordinator-ca", "", "CA bundle (PEM) to verify the coordinator over TLS (empty: plaintext)")
	fs.StringVar(&cfg.CoordinatorCertFile, "coordinator-cert", "", "client certificate (PEM) presented to a coordinator that requires one (mutual TLS)")
	fs.StringVar(&cfg.CoordinatorKeyFile, "coordinator-key", "", "private key (PEM) of --coordinator-cert")
	fs.StringVar(&cfg.AuthToken, "auth-token", "", "bearer token required from clients and sent to the coordinator")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&cfg.ClientCAFile, "client-ca", "", "with TLS, require client certificates signed by this CA bundle (mutual TLS)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", cfg.MaxStreams, "maximum concurrent guest instances")
	fs.Func("preload", "comma-separated connector ids to load at start and keep loaded (within --module-cache-mib), so that their first streams do not wait for a module load", listFlag(&cfg.Preload))
	fs.IntVar(&cfg.ModuleCacheMiB, "module-cache-mib", cfg.ModuleCacheMiB, "MiB of compiled modules kept loaded between runs, least recently used unloaded first (0 = no bound)")
	fs.DurationVar(&cfg.QueueTimeout, "queue-timeout", cfg.QueueTimeout, "how long a request waits for a guest slot")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "default deadline of a request or stream")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long running streams may finish on shutdown")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "HTTP address for /metrics and /healthz (empty = off)")
	fs.Func("deny-hosts", "comma-separated CIDRs, hosts or host:port connectors may never dial (added to link-local, cloud metadata and the worker's own addresses)", listFlag(&cfg.DenyHosts))
	fs.Func("allow-hosts", "comma-separated CIDRs, hosts (*.domain) or host:port: the only places connectors may dial (default: anything not denied)", listFlag(&cfg.AllowHosts))
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof/ on --metrics-listen to bearers of --auth-token")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.warmOnly, "warm-only", false, "compile every module in --connectors-dir into --cache-dir, then exit")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix)); err != nil {
		return o, err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("--log-format must be text or json, got %q", o.logFormat)
	}
	return o, nil
}

func runMain(args []string) error {
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
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && o.goMemLimit > 0 {
		debug.SetMemoryLimit(o.goMemLimit)
	}
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("--log-level %q is not a level", o.logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "worker", Level: level, JSONFormat: o.logFormat == "json", Output: os.Stderr})
	log.Info("sized", "max_streams", cfg.MaxStreams, "go_memory_limit", debug.SetMemoryLimit(-1),
		"guest_memory_budget", cfg.MemoryBudget, "guest_memory_mib", cfg.GuestMemoryMiB)
	if b := cfg.MemoryBudget; b > 0 && b < cgroup.GuestBudget(cgroup.Limits{MemoryBytes: cgroup.MinMemory}) {
		log.Warn("memory limit too small to run a stream; raise it", "guest_memory_budget", b, "min_memory_mib", cgroup.MinMemory>>20)
	}

	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.warmOnly {
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
