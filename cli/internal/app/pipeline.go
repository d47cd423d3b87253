package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
// text and variables every pipeline command sends to the coordinator.
func loadPipeline(cmd *cobra.Command, file string, vars *varsFlag) (text string, variables map[string]string, err error) {
	if variables, err = vars.parse(cmd); err != nil {
		return "", nil, err
	}
	if text, err = readPipeline(file); err != nil {
		return "", nil, err
	}
	return text, variables, nil
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
	cmd.Flags().StringArrayVar(&v.raw, "var", nil, "set ${KEY} in the pipeline (KEY=VALUE, repeatable; overrides the coordinator's environment)")
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
