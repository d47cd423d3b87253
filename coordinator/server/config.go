package server

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/seal"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// Version is the coordinator's version, set at build time with
// -ldflags "-X github.com/rapidbyte/rapidbyte/coordinator/server.Version=...".
var Version = "dev"

// Config configures a coordinator. Zero fields take the values of Default.
type Config struct {
	// Listen is the gRPC listen address (default "127.0.0.1:7070"). Serve
	// takes its listener from the caller; the binary listens here.
	Listen string
	// Workers are the workers to dispatch to: a comma-separated list of
	// host:port, or one gRPC target such as "dns:///workers.ns.svc:7071".
	// Required.
	Workers string
	// WorkerName, when set, names the workers in run errors and run status
	// instead of their addresses: the CLI's embedded worker, reached in
	// memory through a placeholder address, is "embedded worker".
	WorkerName string
	// WorkerDialOptions are added to the options of the connections to the
	// workers: the embedded CLI's in-memory dialer.
	WorkerDialOptions []grpc.DialOption
	// State is the state store URL: "sqlite:///path/state.db" or
	// "postgres://..." (default sqlite under ~/.rapidbyte/state.db).
	State string
	// ConnectorsDir holds connector modules (*.wasm) served to workers and
	// listed by ListConnectors; several directories may be joined with ":"
	// or ",". Empty serves none.
	ConnectorsDir string
	// AuthToken, when set, is the bearer token every call except health
	// checks must carry ("authorization: Bearer <token>").
	AuthToken string
	// WorkerAuthToken is the bearer token sent to workers (default AuthToken).
	WorkerAuthToken string
	// TLSCert and TLSKey are PEM files that turn on TLS for the gRPC
	// listener; set both or neither.
	TLSCert, TLSKey string
	// ClientCAFile, with TLS, requires every client (workers fetching
	// modules, the CLI) to present a certificate signed by this PEM CA
	// bundle: mutual TLS. Default "" (no client certificate asked).
	ClientCAFile string
	// WorkerCAFile, when set, makes the coordinator dial workers over TLS,
	// verifying them against this PEM CA bundle; empty means plaintext.
	WorkerCAFile string
	// WorkerCertFile and WorkerKeyFile are a PEM client certificate and key
	// the coordinator presents to workers that require one (their
	// --client-ca: mutual TLS). Set both or neither; need WorkerCAFile.
	WorkerCertFile, WorkerKeyFile string
	// MetricsListen, when set, serves Prometheus metrics over HTTP at
	// /metrics on this address.
	MetricsListen string
	// EnvAllow lists the names (globs such as "PG_*") of the coordinator's
	// environment variables that pipelines may read as ${VAR}; every other
	// ${VAR} comes only from the variables the client sent with its request.
	// Default none. The CLI's embedded coordinator passes "*": there the
	// environment is the user's own.
	EnvAllow []string
	// Pprof serves the Go profiler under /debug/pprof/ on MetricsListen, to
	// requests bearing AuthToken (required then). Default false.
	Pprof bool
	// MaxConcurrentRuns bounds the runs executing at once; more wait in
	// PENDING (default 16).
	MaxConcurrentRuns int
	// LeaseTTL is how long a run's pipeline lease lasts unless its
	// coordinator renews it (every LeaseTTL/3): the longest a run waits for
	// another coordinator after its own died (default 15 s).
	LeaseTTL time.Duration
	// NoFailover turns off resuming the runs of stopped coordinators and
	// handing runs off at shutdown; at shutdown runs then end FAILED
	// (COORDINATOR_SHUTDOWN). The embedded coordinator sets it.
	NoFailover bool
	// StateKey, when set, encrypts (AES-256-GCM) the submit-time values a
	// run needs to be resumed by another coordinator process (--var values,
	// literal secrets); every coordinator sharing the state store needs the
	// same key. At least 16 bytes, e.g. openssl rand -base64 32.
	StateKey string
}

// Default returns the default configuration (Workers is left empty).
func Default() Config {
	return Config{
		Listen:            "127.0.0.1:7070",
		State:             store.DefaultURL(),
		MaxConcurrentRuns: 16,
		LeaseTTL:          15 * time.Second,
	}
}

// withDefaults fills zero fields from Default.
func (c Config) withDefaults() Config {
	d := Default()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.State == "" {
		c.State = d.State
	}
	if c.MaxConcurrentRuns == 0 {
		c.MaxConcurrentRuns = d.MaxConcurrentRuns
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = d.LeaseTTL
	}
	if c.WorkerAuthToken == "" {
		c.WorkerAuthToken = c.AuthToken
	}
	return c
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); c.Listen != "" && err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if strings.TrimSpace(c.Workers) == "" {
		errs = append(errs, errors.New("workers is required (host:port list or dns:///name:port)"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key must be set together"))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics-listen %q: %w", c.MetricsListen, err))
		}
	}
	if err := pipeline.CheckEnvAllow(c.EnvAllow); err != nil {
		errs = append(errs, err)
	}
	if c.ClientCAFile != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("client-ca needs tls-cert and tls-key (mutual TLS)"))
	}
	if (c.WorkerCertFile == "") != (c.WorkerKeyFile == "") || c.WorkerCertFile != "" && c.WorkerCAFile == "" {
		errs = append(errs, errors.New("worker-cert and worker-key go together, with worker-ca"))
	}
	if c.Pprof && (c.AuthToken == "" || c.MetricsListen == "") {
		errs = append(errs, errors.New("pprof needs metrics-listen and an auth token (the profiler is served only to bearers of the token)"))
	}
	if c.MaxConcurrentRuns < 0 {
		errs = append(errs, fmt.Errorf("max concurrent runs %d must not be negative", c.MaxConcurrentRuns))
	}
	if c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < 300*time.Millisecond) {
		errs = append(errs, fmt.Errorf("lease ttl %s: want at least 300ms", c.LeaseTTL))
	}
	if c.StateKey != "" && len(c.StateKey) < seal.MinKeyLen {
		errs = append(errs, fmt.Errorf("state key is %d bytes, want at least %d (e.g. openssl rand -base64 32)", len(c.StateKey), seal.MinKeyLen))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid coordinator config: %w", err)
	}
	return nil
}
