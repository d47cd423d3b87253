package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem returns a problem about the stream's key (e.g. "sync_mode",
// "partition_key"), positioned at the key's value in the pipeline's YAML,
// or at the stream's entry when the key is absent. A stream that a
// pattern selected is positioned at the pattern's entry. Checks that need
// the source's catalog or manifest use it to report with a line.
func (s StreamConfig) Problem(key, format string, args ...any) Problem {
	n := s.pos.keys[key]
	if n == nil {
		n = s.pos.entry
	}
	line, col := at(n)
	path := s.pos.path
	if key != "" {
		path = joinPath(path, key)
	}
	return Problem{Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)}
}

// SourceConfigProblem returns a problem about the value at path (keys
// from the root of source.config; empty for the config itself),
// positioned at the deepest node of path the YAML has.
func (p *Pipeline) SourceConfigProblem(path []string, format string, args ...any) Problem {
	return configProblem(p.Source.configNode, "source.config", path, format, args...)
}

// DestinationConfigProblem is SourceConfigProblem for destination.config.
func (p *Pipeline) DestinationConfigProblem(path []string, format string, args ...any) Problem {
	return configProblem(p.Destination.configNode, "destination.config", path, format, args...)
}

func configProblem(root *yaml.Node, prefix string, path []string, format string, args ...any) Problem {
	n := root
	for _, k := range path {
		next := element(n, k)
		if next == nil {
			break
		}
		n = next
	}
	line, col := at(n)
	full := prefix
	if len(path) > 0 {
		full += "." + strings.Join(path, ".")
	}
	return Problem{Line: line, Column: col, Path: full, Message: fmt.Sprintf(format, args...)}
}

// element returns the value of key k of mapping n, or item k of sequence
// n, or nil.
func element(n *yaml.Node, k string) *yaml.Node {
	if n = deref(n); n != nil && n.Kind == yaml.SequenceNode {
		if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(n.Content) {
			return deref(n.Content[i])
		}
		return nil
	}
	return child(n, k)
}

// Problems returns ps as a *ValidationError sorted by position, or nil
// when ps is empty.
func Problems(ps []Problem) error {
	return problems(ps).err()
}
