package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/embedded"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// session is an open connection to a coordinator, remote or embedded.
type session struct {
	api      rapidbytev1.CoordinatorServiceClient
	embedded bool
	closers  []func() error
}

// Close releases the connection and stops an embedded coordinator and worker.
func (s *session) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// open connects to the configured coordinator, or starts an embedded one
// whose worker preloads the given connectors (see pipelineConnectors).
func (a *app) open(ctx context.Context, preload ...string) (*session, error) {
	if a.cfg.coordinator != "" {
		tlsCfg, err := a.tlsConfig()
		if err != nil {
			return nil, err
		}
		a.addr = a.cfg.coordinator
		conn, err := coord.Dial(ctx, coord.Options{
			Addr:        a.cfg.coordinator,
			AuthToken:   a.cfg.authToken,
			DialTimeout: a.cfg.dialTimeout,
			TLS:         tlsCfg,
		})
		if err != nil {
			return nil, err
		}
		return &session{api: conn.Coordinator, closers: []func() error{conn.Close}}, nil
	}
	return a.openEmbedded(ctx, preload)
}

func (a *app) openEmbedded(ctx context.Context, preload []string) (*session, error) {
	if a.cfg.connectorsDir == "" {
		return nil, fmt.Errorf("no connectors directory: build the connectors with 'make wasm', or set --connectors-dir or %s (or use --coordinator)", EnvConnectorsDir)
	}
	if st, err := os.Stat(a.cfg.connectorsDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("connectors directory %s: not found (set --connectors-dir or %s)", a.cfg.connectorsDir, EnvConnectorsDir)
	}
	if err := ensureStateDir(a.cfg.state); err != nil {
		return nil, err
	}
	level := hclog.Warn
	if a.cfg.logLevel != "" {
		level = hclog.LevelFromString(a.cfg.logLevel)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "rapidbyte", Level: level, Output: a.env.Stderr, Exclude: shutdownNoise})
	if a.env.PrepareEmbedded != nil {
		a.env.PrepareEmbedded()
	}
	cl, err := a.startEmbedded(ctx, embedded.Config{
		ConnectorsDir: a.cfg.connectorsDir,
		CacheDir:      a.cfg.cacheDir,
		State:         a.cfg.state,
		Logger:        logger,
		Preload:       preload,
		OnCompile:     a.compileNotice(),
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded coordinator: %w", err)
	}
	a.addr = cl.Addr() + " (embedded)"
	conn, err := coord.Dial(ctx, coord.Options{Addr: cl.Addr(), AuthToken: cl.AuthToken(), DialTimeout: a.cfg.dialTimeout})
	if err != nil {
		_ = cl.Close()
		return nil, err
	}
	return &session{api: conn.Coordinator, embedded: true, closers: []func() error{cl.Close, conn.Close}}, nil
}

// compileNotice returns the embedded worker's OnCompile: one stderr line per
// connector it compiles, since a first run otherwise waits seconds in silence.
func (a *app) compileNotice() func(string) {
	var mu sync.Mutex
	return func(connector string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(a.env.Stderr, "Compiling connector %s for its first use; later runs load it from the compilation cache ('make warm' compiles ahead of time).\n", connector)
	}
}

// shutdownNoise drops warnings that only say work was cancelled: the embedded servers
// stop as soon as the command is done, which cancels work still in flight.
// Errors are always kept.
func shutdownNoise(level hclog.Level, _ string, args ...any) bool {
	if level >= hclog.Error {
		return false
	}
	for _, arg := range args {
		if err, ok := arg.(error); ok && errors.Is(err, context.Canceled) {
			return true
		}
	}
	return false
}

// tlsConfig builds the client TLS configuration, or nil for plaintext.
func (a *app) tlsConfig() (*tls.Config, error) {
	if !a.cfg.tls && a.cfg.tlsCA == "" && a.cfg.tlsCert == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.cfg.tlsCA != "" {
		pem, err := os.ReadFile(a.cfg.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", a.cfg.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if (a.cfg.tlsCert == "") != (a.cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if a.cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.tlsCert, a.cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ensureStateDir creates the directory of a sqlite:// state file.
func ensureStateDir(state string) error {
	if !strings.HasPrefix(state, "sqlite:") {
		return nil
	}
	u, err := url.Parse(state)
	if err != nil {
		return fmt.Errorf("invalid --state %q: %w", state, err)
	}
	path := u.Path
	if path == "" {
		path = u.Opaque
	}
	if path == "" || path == ":memory:" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(filepath.FromSlash(path)), 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// withSession opens a session (preloading the connectors in preload, see
// open), calls f with its API and closes it: the open / call / close shape
// of every command that talks to the coordinator.
func (a *app) withSession(ctx context.Context, preload []string, f func(api rapidbytev1.CoordinatorServiceClient) error) error {
	sess, err := a.open(ctx, preload...)
	if err != nil {
		return err
	}
	defer sess.Close()
	return f(sess.api)
}

// pipelineCall is the RunE of a command that sends one pipeline file to the
// coordinator (check, discover, cdc drop): it reads the file and its --var
// values (loadPipeline), opens a session that preloads the pipeline's
// source connector (and its destination's with destination, see
// pipelineConnectors) and calls call with them. A gRPC status error call
// returns is reported against the file (pipelineError); any other error is
// returned as it is.
func (a *app) pipelineCall(vars *varsFlag, destination bool,
	call func(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, file, text string, variables map[string]string) error,
) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		file := args[0]
		text, variables, err := a.loadPipeline(cmd, file, vars)
		if err != nil {
			return err
		}
		return a.withSession(ctx, pipelineConnectors(text, destination), func(api rapidbytev1.CoordinatorServiceClient) error {
			return a.pipelineError(ctx, api, file, coord.FromStatus(call(ctx, api, file, text, variables)))
		})
	}
}

// printAs writes v to stdout: as JSON with -o json, else with text.
func printAs[T any](a *app, v T, text func(io.Writer, T) error) error {
	if a.json() {
		return report.WriteJSON(a.env.Stdout, v)
	}
	return text(a.env.Stdout, v)
}
