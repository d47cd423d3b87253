package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// readPipeline reads a pipeline file, with one clear message for the usual mistakes.
func readPipeline(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("pipeline file %s: no such file", path)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("pipeline file %s: permission denied", path)
	case err != nil:
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			return "", fmt.Errorf("pipeline file %s: is a directory", path)
		}
		return "", fmt.Errorf("read pipeline file %s: %w", path, err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("pipeline file %s: is empty", path)
	}
	return string(b), nil
}

// loadPipeline parses cmd's --var flags and reads the pipeline file: the
// text and variables every pipeline command sends to the coordinator. With
// a remote coordinator, which resolves ${VAR} only from what its client
// sends (and its operator's --env-allow list), the variables also carry
// this environment's values of the names the pipeline refers to; --var
// wins over them. An embedded coordinator reads this environment itself.
func (a *app) loadPipeline(cmd *cobra.Command, file string, vars *varsFlag) (text string, variables map[string]string, err error) {
	if variables, err = vars.parse(cmd); err != nil {
		return "", nil, err
	}
	if text, err = readPipeline(file); err != nil {
		return "", nil, err
	}
	if a.cfg.coordinator != "" {
		for _, name := range varReferences(text) {
			if _, ok := variables[name]; ok {
				continue
			}
			if v := a.env.Getenv(name); v != "" {
				if variables == nil {
					variables = map[string]string{}
				}
				variables[name] = v
			}
		}
	}
	return text, variables, nil
}

// varRef matches a ${NAME} reference, or a $${ escape (which is skipped).
var varRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// varReferences returns the names text refers to as ${NAME}, once each.
func varReferences(text string) []string {
	var names []string
	for _, m := range varRef.FindAllStringSubmatch(text, -1) {
		if m[1] != "" && !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return names
}

// pipelineConnectors returns the connector ids of the pipeline's source and,
// with destination, of its destination, for the embedded worker to load while
// it starts. It reads only the two "use" keys; anything unexpected (invalid
// YAML, a ${VAR} reference) yields fewer ids, and the coordinator reports the
// problem as usual.
func pipelineConnectors(text string, destination bool) []string {
	var p struct {
		Source      struct{ Use string } `yaml:"source"`
		Destination struct{ Use string } `yaml:"destination"`
	}
	if yaml.Unmarshal([]byte(text), &p) != nil {
		return nil
	}
	uses := []string{p.Source.Use}
	if destination {
		uses = append(uses, p.Destination.Use)
	}
	var ids []string
	for _, use := range uses {
		id, _, _ := strings.Cut(strings.TrimSpace(use), "@")
		if id != "" && !strings.Contains(id, "$") && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// varsFlag collects repeatable --var KEY=VALUE flags.
type varsFlag struct{ raw []string }

func (v *varsFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&v.raw, "var", nil, "set ${KEY} in the pipeline (KEY=VALUE, repeatable; wins over the environment)")
}

// parse returns the variables, or a usage error for a malformed one.
func (v *varsFlag) parse(cmd *cobra.Command) (map[string]string, error) {
	if len(v.raw) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(v.raw))
	for _, kv := range v.raw {
		k, val, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t${}") {
			return nil, &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("invalid --var %q: want KEY=VALUE", kv)}
		}
		out[k] = val
	}
	return out, nil
}

// pipelineArg accepts exactly one PIPELINE.yaml argument.
func pipelineArg(cmd *cobra.Command, args []string) error {
	return oneArg("PIPELINE.yaml")(cmd, args)
}

// oneArg accepts exactly one positional argument called name.
func oneArg(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("expected one %s argument, got %d", name, len(args))}
		}
		return nil
	}
}
