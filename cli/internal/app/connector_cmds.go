package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/rapidbyte/rapidbyte/cli/internal/conformance"
	"github.com/rapidbyte/rapidbyte/cli/internal/scaffold"
)

// EnvSDKDir names the sdk checkout `connector init` points a new module's
// replace directive at.
const EnvSDKDir = "RAPIDBYTE_SDK_DIR"

func (a *app) connectorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Write and test connectors: init a module, run the conformance suite on a .wasm",
		Args:  noArgs,
	}
	cmd.AddCommand(a.connectorInitCommand(), a.connectorTestCommand())
	return cmd
}

func (a *app) connectorInitCommand() *cobra.Command {
	var opts scaffold.Options
	cmd := &cobra.Command{
		Use:   "init NAME --role source|destination",
		Short: "Generate a connector module (go.mod, main.go, manifest.json, test, Makefile) in a new directory",
		Long: "init writes a Go module for connector NAME into --dir (default ./NAME): go.mod requiring the sdk\n" +
			"(with a replace to a local sdk checkout until the sdk is published: --sdk, " + EnvSDKDir + ",\n" +
			"or the checkout this binary was built in), main.go, manifest.json, a native conformance test,\n" +
			"config.json and a Makefile that builds NAME.wasm with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared\n" +
			"and packs it with rbpack. See docs/connector-authoring.md.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("expected one connector NAME, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Role == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--role is required: source or destination")}
			}
			if opts.Dir == "" {
				opts.Dir = opts.Name
			}
			if opts.SDKDir == "" {
				opts.SDKDir = a.findSDK()
			} else if opts.SDKDir = scaffold.FindSDK(opts.SDKDir); opts.SDKDir == "" {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--sdk: no go.mod of %s there or in its sdk/ directory", scaffold.SDKModule)}
			}
			files, err := scaffold.Generate(opts)
			if err != nil {
				return err
			}
			w := a.env.Stdout
			fmt.Fprintf(w, "Created %s connector %s in %s: %s\n", opts.Role, opts.Name, opts.Dir, strings.Join(files, ", "))
			if opts.SDKDir != "" {
				fmt.Fprintf(w, "go.mod replaces %s with %s\n", scaffold.SDKModule, opts.SDKDir)
			} else {
				fmt.Fprintf(w, "No sdk checkout found: point go.mod at one with\n  go mod edit -replace %s=/path/to/rapidbyte/sdk\n", scaffold.SDKModule)
			}
			fmt.Fprintf(w, "Next: cd %s && make test && make && make conformance\n", opts.Dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Role, "role", "", "source or destination")
	f.StringVar(&opts.Dir, "dir", "", "directory to create (default ./NAME); must not exist or be empty")
	f.StringVar(&opts.Module, "module", "", "Go module path (default example.com/NAME)")
	f.StringVar(&opts.SDKDir, "sdk", "", "sdk checkout for go.mod's replace (a rapidbyte checkout or its sdk/; env "+EnvSDKDir+")")
	return cmd
}

// findSDK locates an sdk checkout for init: $RAPIDBYTE_SDK_DIR, else the
// repository this binary runs from (bin/rapidbyte), else the working
// directory's.
func (a *app) findSDK() string {
	candidates := []string{a.env.Getenv(EnvSDKDir)}
	if a.env.Executable != "" {
		candidates = append(candidates, filepath.Join(filepath.Dir(a.env.Executable), ".."))
	}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, wd)
	}
	return scaffold.FindSDK(candidates...)
}

func (a *app) connectorTestCommand() *cobra.Command {
	var configFile, badConfigFile string
	cmd := &cobra.Command{
		Use:   "test MODULE.wasm [--config FILE]",
		Short: "Run the sdk's conformance suite on a connector module under the real wasm host",
		Long: "test loads MODULE.wasm as a worker does (manifest, ABI version) and runs the sdk's conformance\n" +
			"suite (sdk/sdktest) on it: for a source, discover, check and a full read of every stream (and an\n" +
			"incremental one where the stream offers it); for a destination, check and writes of a small\n" +
			"generated stream and of an empty one. --config is the connector's config (JSON, default {});\n" +
			"--bad-config, when given, must fail check (and discover) with a config error. One line per\n" +
			"check; exit 1 when any fails.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("expected one MODULE.wasm, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.json() {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("connector test prints text only")}
			}
			cfg, err := readConfigFile(configFile, "{}")
			if err != nil {
				return err
			}
			bad, err := readConfigFile(badConfigFile, "")
			if err != nil {
				return err
			}
			return a.connectorTest(cmd.Context(), args[0], cfg, bad)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "connector config, a JSON file (default {})")
	cmd.Flags().StringVar(&badConfigFile, "bad-config", "", "a config that must fail with a config error (JSON file)")
	return cmd
}

// readConfigFile reads a JSON config file; an empty path gives def.
func readConfigFile(path, def string) (json.RawMessage, error) {
	if path == "" {
		if def == "" {
			return nil, nil
		}
		return json.RawMessage(def), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("config file %s: not a JSON object: %v", path, err)
	}
	return b, nil
}

func (a *app) connectorTest(ctx context.Context, path string, cfg, bad json.RawMessage) error {
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return fmt.Errorf("module %s: not found (build it first, e.g. make in the connector's directory)", path)
	}
	level := hclog.Warn
	if a.cfg.logLevel != "" {
		level = hclog.LevelFromString(a.cfg.logLevel)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "connector", Level: level, Output: a.env.Stderr})
	res, err := conformance.Run(ctx, conformance.Options{
		Module: path, Config: cfg, BadConfig: bad, CacheDir: a.cfg.cacheDir, Logger: logger, Out: a.env.Stdout,
	})
	if err != nil {
		return err
	}
	if res.Failed {
		return &exitError{code: ExitFailure, msg: fmt.Sprintf("%s %s: conformance failed", res.Manifest.ID, res.Manifest.Version)}
	}
	fmt.Fprintf(a.env.Stdout, "PASS %s %s (%s)\n", res.Manifest.ID, res.Manifest.Version, strings.Join(res.Manifest.Roles, ", "))
	return nil
}
