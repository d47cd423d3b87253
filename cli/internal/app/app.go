package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/embedded"
)

// Environment variables the CLI reads.
const (
	EnvCoordinator   = "RAPIDBYTE_COORDINATOR"
	EnvAuthToken     = "RAPIDBYTE_AUTH_TOKEN"
	EnvConnectorsDir = "RAPIDBYTE_CONNECTORS_DIR"
	EnvState         = "RAPIDBYTE_STATE"
	EnvCacheDir      = "RAPIDBYTE_CACHE_DIR"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitUsage     = 2
	ExitCancelled = 3
	ExitInterrupt = 130
)

// Env is what the CLI gets from its process: streams, environment and home directory.
type Env struct {
	// Stdout receives machine output and summaries.
	Stdout io.Writer
	// Stderr receives progress, logs and errors.
	Stderr io.Writer
	// StderrTerminal says whether Stderr is a terminal (live progress is drawn only then).
	StderrTerminal bool
	// Getenv reads an environment variable.
	Getenv func(string) string
	// HomeDir is the user's home directory, for ~/.rapidbyte defaults; may be empty.
	HomeDir string
	// Executable is the CLI binary's path, to find dist/connectors next to it; may be empty.
	Executable string
	// PrepareEmbedded, when set, runs before an embedded coordinator and
	// worker start in this process.
	PrepareEmbedded func()
}

// config is the resolved global configuration of one invocation.
type config struct {
	coordinator   string
	authToken     string
	connectorsDir string
	state         string
	cacheDir      string
	output        string
	logLevel      string
	dialTimeout   time.Duration
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
}

// cluster is a running embedded coordinator and worker.
type cluster interface {
	Addr() string
	AuthToken() string
	Close() error
}

// app holds one invocation's state.
type app struct {
	env           Env
	cfg           config
	startEmbedded func(context.Context, embedded.Config) (cluster, error)
	// addr is the coordinator address in use, for error messages.
	addr string
}

// Main runs the CLI with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	return newApp(env).execute(ctx, args)
}

func newApp(env Env) *app {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	return &app{
		env: env,
		startEmbedded: func(ctx context.Context, cfg embedded.Config) (cluster, error) {
			return embedded.Start(ctx, cfg)
		},
	}
}

// execute runs the command tree and turns its error into one line on stderr and an exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.env.Stderr, "error: interrupted")
		return ExitInterrupt
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown shorthand") {
		err = &usageError{cmd: "rapidbyte", err: err}
	}
	if msg := a.describe(err); msg != "" {
		fmt.Fprintln(a.env.Stderr, "error: "+msg)
	}
	return exitCode(err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rapidbyte",
		Short: "Run, check and discover Rapidbyte data pipelines",
		Long: "rapidbyte talks to a Rapidbyte coordinator (--coordinator or " + EnvCoordinator + ").\n" +
			"Without one it starts a coordinator and a worker in-process (embedded mode).",
		Version:           embedded.Version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.resolve(cmd) },
	}
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), err: err}
	})
	f := root.PersistentFlags()
	f.StringVar(&a.cfg.coordinator, "coordinator", "", "coordinator address host:port (env "+EnvCoordinator+"); empty runs embedded")
	f.StringVar(&a.cfg.authToken, "auth-token", "", "bearer token for the coordinator (env "+EnvAuthToken+")")
	f.StringVar(&a.cfg.connectorsDir, "connectors-dir", "", "connector modules for embedded mode (env "+EnvConnectorsDir+", default dist/connectors)")
	f.StringVar(&a.cfg.state, "state", "", "state store URL for embedded mode (env "+EnvState+", default sqlite under ~/.rapidbyte/; on 'runs', --state filters by run state)")
	f.StringVarP(&a.cfg.output, "output", "o", "text", "output format: text (or table) or json")
	f.StringVar(&a.cfg.logLevel, "log-level", "", "log level of the embedded coordinator and worker: trace, debug, info, warn, error (default warn)")
	f.DurationVar(&a.cfg.dialTimeout, "dial-timeout", coord.DefaultDialTimeout, "how long to wait for the coordinator to answer")
	f.BoolVar(&a.cfg.tls, "tls", false, "connect to the coordinator over TLS")
	f.StringVar(&a.cfg.tlsCA, "tls-ca", "", "PEM file of the CA that signed the coordinator's certificate (implies --tls)")
	f.StringVar(&a.cfg.tlsCert, "tls-cert", "", "PEM client certificate for a coordinator that requires one (mutual TLS; implies --tls, needs --tls-key)")
	f.StringVar(&a.cfg.tlsKey, "tls-key", "", "PEM private key of --tls-cert")

	root.AddCommand(
		a.runCommand(),
		a.checkCommand(),
		a.discoverCommand(),
		a.connectorsCommand(),
		a.connectorCommand(),
		a.readCommand(),
		a.statusCommand(),
		a.watchCommand(),
		a.runsCommand(),
		a.cancelCommand(),
		a.cdcCommand(),
	)
	return root
}

// resolve fills the unset flags from the environment and defaults, and validates them.
func (a *app) resolve(cmd *cobra.Command) error {
	// The root's own flag set: a subcommand's local flag of the same name (runs --state,
	// a run-state filter) must not count as the global one.
	flags := cmd.Root().PersistentFlags()
	fromEnv := func(dst *string, flag, env string) {
		if !flags.Changed(flag) {
			*dst = strings.TrimSpace(a.env.Getenv(env))
		}
	}
	fromEnv(&a.cfg.coordinator, "coordinator", EnvCoordinator)
	fromEnv(&a.cfg.authToken, "auth-token", EnvAuthToken)
	fromEnv(&a.cfg.connectorsDir, "connectors-dir", EnvConnectorsDir)
	fromEnv(&a.cfg.state, "state", EnvState)
	a.cfg.cacheDir = strings.TrimSpace(a.env.Getenv(EnvCacheDir))

	switch a.cfg.output {
	case "text", "json":
	case "table": // the text form of read; a synonym of text
		a.cfg.output = "text"
	default:
		return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("invalid --output %q: use text or json", a.cfg.output)}
	}
	if a.cfg.logLevel != "" && hclog.LevelFromString(a.cfg.logLevel) == hclog.NoLevel {
		return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("invalid --log-level %q: use trace, debug, info, warn or error", a.cfg.logLevel)}
	}
	if a.cfg.connectorsDir == "" {
		a.cfg.connectorsDir = a.defaultConnectorsDir()
	}
	if a.cfg.state == "" && a.env.HomeDir != "" {
		a.cfg.state = "sqlite://" + filepath.ToSlash(filepath.Join(a.env.HomeDir, ".rapidbyte", "state.db"))
	}
	return nil
}

// defaultConnectorsDir is dist/connectors under the working directory, else next to the
// binary (bin/../dist/connectors), else empty.
func (a *app) defaultConnectorsDir() string {
	candidates := []string{filepath.Join("dist", "connectors")}
	if a.env.Executable != "" {
		candidates = append(candidates, filepath.Join(filepath.Dir(a.env.Executable), "..", "dist", "connectors"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			if abs, err := filepath.Abs(c); err == nil {
				return abs
			}
			return c
		}
	}
	return ""
}

// json reports whether machine output was asked for.
func (a *app) json() bool { return a.cfg.output == "json" }
