package pipeline

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Resolved holds a pipeline's secret-bearing values with ${VAR} references
// substituted. It exists only at dispatch time: never log or store it.
type Resolved struct {
	// Source is the source connector config.
	Source map[string]any
	// Destination is the destination connector config.
	Destination map[string]any
	// StateConnection is State.Connection.
	StateConnection string
}

// Resolve substitutes ${VAR} references (and $${ escapes) in the connector
// configs and state connection using lookup. Problems, such as a variable
// that is no longer set, come back as a *ValidationError with positions
// when p came from Parse. p is not modified.
func (p *Pipeline) Resolve(lookup Lookup) (Resolved, error) {
	c := &checker{lookup: lookup}
	var r Resolved
	r.Source = c.resolveConfig(p.Source.configNode, p.Source.Config, "source.config")
	r.Destination = c.resolveConfig(p.Destination.configNode, p.Destination.Config, "destination.config")
	r.StateConnection, _ = c.expand(p.State.connNode, "state.connection", p.State.Connection)
	if err := c.ps.err(); err != nil {
		return Resolved{}, err
	}
	return r, nil
}

// resolveConfig converts node with substitution, or, for a Pipeline built
// without Parse, substitutes the strings of cfg.
func (c *checker) resolveConfig(node *yaml.Node, cfg map[string]any, path string) map[string]any {
	if node != nil {
		cv := &converter{c: c, resolve: true}
		return cv.config(node, path)
	}
	out, _ := c.resolveValue(cfg, path).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

func (c *checker) resolveValue(v any, path string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			out[k] = c.resolveValue(val, joinPath(path, k))
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			out[i] = c.resolveValue(val, fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case string:
		if !strings.Contains(v, "${") {
			return v
		}
		s, _ := c.expand(nil, path, v)
		return s
	default:
		return v
	}
}
