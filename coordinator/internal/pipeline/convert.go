package pipeline

import (
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxConfigNodes bounds the nodes visited while converting one config, so
// alias expansion ("billion laughs") cannot blow up.
const maxConfigNodes = 100_000

// converter turns a config mapping node into map[string]any. Without
// resolve it keeps ${VAR} references as written and only reports bad or
// unset ones; with resolve it substitutes them.
type converter struct {
	c       *checker
	resolve bool
	visited int
}

// config converts the value of a connector's config key. A missing or null
// config is an empty map.
func (cv *converter) config(n *yaml.Node, path string) map[string]any {
	n = deref(n)
	if isNull(n) {
		return map[string]any{}
	}
	if n.Kind != yaml.MappingNode {
		cv.c.add(n, path, "must be a mapping, got a %s", kindName(n))
		return map[string]any{}
	}
	m, _ := cv.value(n, path, 0).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func (cv *converter) value(n *yaml.Node, path string, depth int) any {
	cv.visited++
	if cv.visited == maxConfigNodes {
		cv.c.add(n, path, "config is too large (more than %d values after expanding aliases)", maxConfigNodes)
	}
	if cv.visited >= maxConfigNodes {
		return nil
	}
	if depth > maxAliasDepth {
		cv.c.add(n, path, "config is nested too deeply")
		return nil
	}
	orig := n
	n = deref(n)
	if n == nil {
		cv.c.add(orig, path, "alias chain is too long")
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return cv.mapping(n, path, depth)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, it := range n.Content {
			out = append(out, cv.value(it, fmt.Sprintf("%s[%d]", path, i), depth+1))
		}
		return out
	case yaml.ScalarNode:
		return cv.scalar(n, path)
	default:
		return nil
	}
}

func (cv *converter) mapping(n *yaml.Node, path string, depth int) map[string]any {
	out := make(map[string]any, len(n.Content)/2)
	lines := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			cv.c.add(n.Content[i], path, "config keys must be strings")
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if line, dup := lines[k.Value]; dup {
			cv.c.add(k, path, "duplicate key %q (first at line %d)", k.Value, line)
			continue
		}
		lines[k.Value] = k.Line
		out[k.Value] = cv.value(n.Content[i+1], joinPath(path, k.Value), depth+1)
	}
	for _, m := range merges {
		md := deref(m)
		srcs := []*yaml.Node{md}
		if md != nil && md.Kind == yaml.SequenceNode {
			srcs = md.Content
		}
		for _, s := range srcs {
			v, ok := cv.value(s, path, depth+1).(map[string]any)
			if !ok {
				cv.c.add(m, path, "merge (<<) needs a mapping or a list of mappings")
				continue
			}
			for k, val := range v {
				if _, exists := out[k]; !exists {
					out[k] = val
				}
			}
		}
	}
	return out
}

// scalar returns a typed scalar. A plain (unquoted) scalar that is exactly
// one ${VAR} reference is re-typed after substitution, so `port: ${PORT}`
// gives a number as it would if written literally.
func (cv *converter) scalar(n *yaml.Node, path string) any {
	if n.ShortTag() == "!!str" || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		if !cv.resolve {
			cv.c.checkRefs(n, path, n.Value)
			return n.Value
		}
		s, ok := cv.c.expand(n, path, n.Value)
		if !ok {
			return nil
		}
		if n.Style == 0 && isSingleRef(n.Value) {
			return typedScalar(&yaml.Node{Kind: yaml.ScalarNode, Value: s})
		}
		return s
	}
	return typedScalar(n)
}

// typedScalar decodes a scalar into a JSON-friendly Go value: nil, bool,
// int64, uint64, float64 or string.
func typedScalar(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	switch x := v.(type) {
	case nil, bool, string, int64, uint64:
		return x
	case int:
		return int64(x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return n.Value
		}
		return x
	case time.Time:
		return n.Value
	default:
		return n.Value
	}
}
