package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// Config configures a worker. Zero fields take the defaults of Default when
// passed through it; Validate reports every problem at once.
type Config struct {
	// Listen is the gRPC address (WorkerService, Flight, health and
	// reflection on one port). The caller opens the listener; Serve takes
	// it. Default "127.0.0.1:7071".
	Listen string
	// ConnectorsDir holds connector modules as <id>.wasm. Every module in it
	// is compiled at startup, in the background (see Serve), unless NoWarm.
	// Default "" (none).
	ConnectorsDir string
	// NoWarm skips that startup compile: each module compiles on its first
	// use. For a worker that lives for one command (the CLI's embedded
	// worker), which needs only the pipeline's connectors, and would
	// otherwise spend CPU compiling others and wait for them at exit.
	// Default false.
	NoWarm bool
	// Preload lists connector ids that Serve loads at once, in parallel, and
	// keeps loaded, so that the first requests for them need not wait for a
	// load: a worker that knows its pipeline (the CLI's embedded worker,
	// whose coordinator checks the source and then the destination) loads
	// both while it starts, and a long-lived worker (--preload) the
	// connectors it is deployed for. A failure is left for the request to
	// report. Default none.
	Preload []string
	// OnCompile, when set, is called with a connector's id before its module
	// is compiled because the compilation cache lacks it (seconds of CPU;
	// later loads take a fraction of a second). The CLI's embedded worker
	// uses it to tell the user why a first run waits. Default nil.
	OnCompile func(connector string)
	// CacheDir is the on-disk cache: the wazero compilation cache lives
	// directly in it and modules fetched from the coordinator in
	// CacheDir/modules (<hex>.wasm). Default os.UserCacheDir()/rapidbyte.
	CacheDir string
	// CoordinatorAddr is the coordinator whose ConnectorRegistryService
	// supplies modules missing from ConnectorsDir. Default "" (no fetching).
	CoordinatorAddr string
	// CoordinatorCAFile, when set, makes the registry client dial the
	// coordinator over TLS, verifying it against this PEM CA bundle (the
	// bearer token then never travels in clear). Default "" (plaintext).
	CoordinatorCAFile string
	// CoordinatorCertFile and CoordinatorKeyFile are a PEM client
	// certificate and key the registry client presents to a coordinator
	// that requires one (its --client-ca: mutual TLS). Set both or neither;
	// need CoordinatorCAFile. Default "".
	CoordinatorCertFile, CoordinatorKeyFile string
	// AuthToken, when set, is required as "authorization: Bearer <token>" on
	// every call except gRPC health checks, and sent to the coordinator's
	// registry. Default "" (no auth).
	AuthToken string
	// TLSCert and TLSKey are PEM files; set both to serve TLS. Default "".
	TLSCert, TLSKey string
	// ClientCAFile, with TLS, requires every client (the coordinator) to
	// present a certificate signed by this PEM CA bundle: mutual TLS.
	// Default "" (no client certificate asked).
	ClientCAFile string
	// MaxStreams bounds concurrent guest instances (Discover, Check, reads
	// and writes), except that a stream's read and write that the
	// coordinator marks as one pair share one slot when both run here.
	// Default 2 x NumCPU: guests mostly wait on their databases.
	MaxStreams int
	// MemoryBudget is the bytes of guest memory caps reads and writes may
	// reserve at once (0 = no memory admission, slots only); the worker
	// binary sets it from the cgroup memory limit.
	MemoryBudget int64
	// GuestMemoryMiB caps the linear memory of each guest that asks for no
	// cap of its own (a stream's limits.max_memory_bytes), and is what
	// Discover and Check reserve against MemoryBudget. Default
	// wasmhost.DefaultMemoryLimitMiB (512); the worker binary lowers it to
	// half the budget of a small cgroup.
	GuestMemoryMiB uint32
	// ModuleCacheMiB bounds the memory of the compiled modules a worker
	// keeps loaded between runs (estimated at wasmhost.ModuleCostFactor
	// times each module's size, some 80 MiB for a PostgreSQL connector):
	// beyond it the least recently used is unloaded, and loads again from
	// the compilation cache (about half a CPU-second) when next used.
	// 0 keeps every module loaded (the CLI's embedded worker, which lives
	// for one command). Default 256.
	ModuleCacheMiB int
	// QueueTimeout is how long a request waits for a free guest slot before
	// failing with RESOURCE_EXHAUSTED (retry_after_ms set). Default 10s.
	QueueTimeout time.Duration
	// RequestTimeout is the deadline of a request or stream that does not
	// ask for one (tickets may set timeout_seconds). Default 1h.
	RequestTimeout time.Duration
	// DrainTimeout is how long running streams may finish after shutdown
	// starts, before they are cancelled. Default 30s.
	DrainTimeout time.Duration
	// MetricsListen is the HTTP address of /metrics and /healthz.
	// Default "" (disabled).
	MetricsListen string
	// DenyHosts extends the network policy over guest dials: CIDRs, host
	// names or host:port that no pipeline may reach, on top of link-local
	// addresses, cloud metadata names and the worker's and coordinator's
	// own addresses, which are always denied. Default none.
	DenyHosts []string
	// AllowHosts, when set, is the only places guests may dial, whatever a
	// pipeline's allow-list says (its "*" included). Default none: anything
	// not denied.
	AllowHosts []string
	// Pprof serves the Go profiler under /debug/pprof/ on MetricsListen, to
	// requests bearing AuthToken (required then). Default false.
	Pprof bool
	// MaxConnectionAge closes client connections after this age (plus a
	// grace of RequestTimeout for running streams), so clients re-resolve
	// DNS and find new workers. Default 5m.
	MaxConnectionAge time.Duration
	// MaxAbandoned is the number of abandoned guest instances (guests that
	// ignored cancellation and still run) beyond which health reports
	// NOT_SERVING. Default 0: a guest spinning in pure compute cannot be
	// preempted and stalls the next garbage collection of the whole process,
	// so the first abandonment takes the worker out of rotation and fails its
	// liveness probe, and Kubernetes restarts it (see docs/rationale.md).
	MaxAbandoned int
	// MaxRecvMsgBytes bounds one incoming gRPC message (a DoPut batch).
	// Default 256 MiB.
	MaxRecvMsgBytes int
}

// Default returns the default configuration.
func Default() Config {
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "rapidbyte")
	}
	return Config{
		Listen:           "127.0.0.1:7071",
		CacheDir:         cache,
		MaxStreams:       2 * runtime.NumCPU(),
		QueueTimeout:     10 * time.Second,
		RequestTimeout:   time.Hour,
		DrainTimeout:     30 * time.Second,
		MaxConnectionAge: 5 * time.Minute,
		MaxAbandoned:     0,
		MaxRecvMsgBytes:  256 << 20,
		GuestMemoryMiB:   wasmhost.DefaultMemoryLimitMiB,
		ModuleCacheMiB:   DefaultModuleCacheMiB,
	}
}

// DefaultModuleCacheMiB is the default Config.ModuleCacheMiB: room for
// the two PostgreSQL connectors and a third module.
const DefaultModuleCacheMiB = 256

// Validate checks the configuration and lists every problem.
func (c Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.ConnectorsDir != "" {
		if fi, err := os.Stat(c.ConnectorsDir); err != nil {
			errs = append(errs, fmt.Errorf("connectors dir: %w", err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("connectors dir %q is not a directory", c.ConnectorsDir))
		}
	}
	if c.CacheDir == "" {
		errs = append(errs, errors.New("cache dir is required"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls cert and tls key must be set together"))
	}
	if c.ClientCAFile != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("client CA needs tls cert and tls key (mutual TLS)"))
	}
	if (c.CoordinatorCertFile == "") != (c.CoordinatorKeyFile == "") || c.CoordinatorCertFile != "" && c.CoordinatorCAFile == "" {
		errs = append(errs, errors.New("coordinator cert and coordinator key go together, with coordinator CA"))
	}
	if c.Pprof && (c.AuthToken == "" || c.MetricsListen == "") {
		errs = append(errs, errors.New("pprof needs metrics listen and an auth token (the profiler is served only to bearers of the token)"))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max streams must be at least 1, got %d", c.MaxStreams))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"queue timeout", c.QueueTimeout}, {"request timeout", c.RequestTimeout}, {"drain timeout", c.DrainTimeout}, {"max connection age", c.MaxConnectionAge}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", d.name, d.v))
		}
	}
	if c.ModuleCacheMiB < 0 {
		errs = append(errs, fmt.Errorf("module cache must be at least 0 MiB (0: no bound), got %d", c.ModuleCacheMiB))
	}
	if c.GuestMemoryMiB < 1 || c.GuestMemoryMiB > 4096 {
		errs = append(errs, fmt.Errorf("guest memory must be 1-4096 MiB, got %d", c.GuestMemoryMiB))
	}
	if c.MaxAbandoned < 0 {
		errs = append(errs, fmt.Errorf("max abandoned must not be negative, got %d", c.MaxAbandoned))
	}
	if c.MaxRecvMsgBytes < 4<<20 {
		errs = append(errs, fmt.Errorf("max recv msg bytes must be at least 4 MiB, got %d", c.MaxRecvMsgBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid worker config: %w", err)
	}
	return nil
}
