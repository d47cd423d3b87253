package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliasDepth bounds alias chains and nesting while walking nodes.
const maxAliasDepth = 64

// checker walks the YAML node tree, collecting every problem it meets.
type checker struct {
	ps         problems
	lookup     Lookup
	merges     int  // merge keys expanded so far, bounded by maxConfigNodes
	sourceOnly bool // ParseSource: destination, state and streams are not required
}

// field is one key/value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// at returns the node's position.
func at(n *yaml.Node) (int, int) {
	if n == nil {
		return 0, 0
	}
	return n.Line, n.Column
}

func (c *checker) add(n *yaml.Node, path, format string, args ...any) {
	line, col := at(n)
	c.ps.add(line, col, path, format, args...)
}

// deref follows aliases; it returns nil for a nil node or an alias loop.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i >= maxAliasDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number"
		case "!!bool":
			return "boolean"
		case "!!null":
			return "null"
		}
		return "string"
	default:
		return "document"
	}
}

// fields returns the pairs of mapping n keyed by name, reporting duplicate
// and unknown keys (with a suggestion). A null n is an empty mapping; any
// other non-mapping is reported and gives nil. Merge keys (<<) are honoured.
func (c *checker) fields(n *yaml.Node, path string, allowed []string) map[string]field {
	n = deref(n)
	if isNull(n) {
		return map[string]field{}
	}
	if n.Kind != yaml.MappingNode {
		c.add(n, path, "must be a mapping, got a %s", kindName(n))
		return nil
	}
	out := map[string]field{}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			c.add(n.Content[i], path, "keys must be strings")
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, v)
			continue
		}
		if prev, dup := out[k.Value]; dup {
			c.add(k, path, "duplicate key %q (first at line %d)", k.Value, prev.key.Line)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			c.add(k, path, "unknown key %q%s", k.Value, didYouMean(k.Value, allowed))
			continue
		}
		out[k.Value] = field{key: k, val: v}
	}
	for _, m := range merged {
		if c.merges++; c.merges > maxConfigNodes {
			c.add(m, path, "too many merge (<<) expansions")
			break
		}
		m = deref(m)
		srcs := []*yaml.Node{m}
		if m != nil && m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			s = deref(s)
			if s == nil || s.Kind != yaml.MappingNode {
				c.add(m, path, "merge (<<) needs a mapping or a list of mappings")
				continue
			}
			for name, f := range c.fields(s, path, allowed) {
				if _, ok := out[name]; !ok {
					out[name] = f
				}
			}
		}
	}
	return out
}

// scalar returns the text of scalar n with ${VAR} references expanded.
// ok is false (and a problem recorded) for non-scalars and bad references.
func (c *checker) scalar(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		c.add(n, path, "must be a single value, got a %s", kindName(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return c.expand(n, path, n.Value)
}

// expand substitutes variables in s, the text of node n, reporting bad or
// unset references.
func (c *checker) expand(n *yaml.Node, path, s string) (string, bool) {
	out, missing, err := expand(s, c.lookup)
	if err != nil {
		c.add(n, path, "%v", err)
		return "", false
	}
	for _, name := range missing {
		c.add(n, path, "variable ${%s} is not set", name)
	}
	return out, len(missing) == 0
}

// checkRefs reports bad or unset references in s without expanding it.
func (c *checker) checkRefs(n *yaml.Node, path, s string) bool {
	_, ok := c.expand(n, path, s)
	return ok
}

// str returns an optional string field ("" when absent or null).
func (c *checker) str(fs map[string]field, name, path string) string {
	f, ok := fs[name]
	if !ok {
		return ""
	}
	s, _ := c.scalar(f.val, joinPath(path, name))
	return s
}

// required returns a string field that must be present and non-empty;
// parent positions the problem when the key is absent.
func (c *checker) required(fs map[string]field, name, path string, parent *yaml.Node) (string, *yaml.Node) {
	p := joinPath(path, name)
	f, ok := fs[name]
	if !ok {
		c.add(parent, path, "missing required key %q", name)
		return "", nil
	}
	s, valid := c.scalar(f.val, p)
	if valid && strings.TrimSpace(s) == "" {
		c.add(f.val, p, "must not be empty")
	}
	return s, f.val
}

// optional returns the text, path and node of an optional scalar field; ok
// is false when the field is absent or null, or not a scalar (reported).
func (c *checker) optional(fs map[string]field, name, path string) (s, p string, n *yaml.Node, ok bool) {
	f, found := fs[name]
	if !found || isNull(deref(f.val)) {
		return "", "", nil, false
	}
	p = joinPath(path, name)
	if s, ok = c.scalar(f.val, p); !ok {
		return "", "", nil, false
	}
	return s, p, deref(f.val), true
}

// enum returns an optional string field that must be one of allowed;
// def is used when the field is absent or null.
func (c *checker) enum(fs map[string]field, name, path string, allowed []string, def string) string {
	s, p, node, ok := c.optional(fs, name, path)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		c.add(node, p, "%q is not one of %s%s", s, strings.Join(allowed, ", "), didYouMean(s, allowed))
		return def
	}
	return s
}

// integer returns an optional integer field that must be >= lo; def is
// used when absent or null.
func (c *checker) integer(fs map[string]field, name, path string, lo, def int) int {
	s, p, node, ok := c.optional(fs, name, path)
	if !ok {
		return def
	}
	n, err := parseInt(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		c.add(node, p, "%s is out of range", quoteShort(s))
	case err != nil && isNumber(s):
		c.add(node, p, "must be a whole number, got %s", quoteShort(s))
	case err != nil:
		c.add(node, p, "must be an integer, got %s", quoteShort(s))
	case int(n) < lo:
		c.add(node, p, "must be >= %d, got %d", lo, n)
	default:
		return int(n)
	}
	return def
}

// size returns an optional byte size field that must be >= lo.
func (c *checker) size(fs map[string]field, name, path string, lo, def uint64) uint64 {
	s, p, node, ok := c.optional(fs, name, path)
	if !ok {
		return def
	}
	n, err := ParseByteSize(s)
	switch {
	case err != nil:
		c.add(node, p, "invalid size %s: %v", quoteShort(s), err)
	case n < lo:
		c.add(node, p, "must be at least %d bytes, got %s", lo, quoteShort(s))
	default:
		return n
	}
	return def
}

// list returns an optional list of non-empty, unique strings; a single
// scalar is a one-element list.
func (c *checker) list(fs map[string]field, name, path string) []string {
	f, ok := fs[name]
	if !ok {
		return nil
	}
	p := joinPath(path, name)
	n := deref(f.val)
	if isNull(n) {
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	} else if n.Kind != yaml.ScalarNode {
		c.add(n, p, "must be a list of strings, got a %s", kindName(n))
		return nil
	}
	var out []string
	seen := map[string]int{}
	for i, it := range items {
		ip := p
		if n.Kind == yaml.SequenceNode {
			ip = fmt.Sprintf("%s[%d]", p, i)
		}
		s, valid := c.scalar(it, ip)
		if !valid {
			continue
		}
		if strings.TrimSpace(s) == "" {
			c.add(deref(it), ip, "must not be empty")
			continue
		}
		if line, dup := seen[s]; dup {
			c.add(deref(it), ip, "duplicate entry %q (first at line %d)", s, line)
			continue
		}
		seen[s] = deref(it).Line
		out = append(out, s)
	}
	return out
}

// parseInt parses a decimal integer (underscores allowed) or a 0x/0o/0b
// literal that fits in an int32.
func parseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	base := 10
	if len(s) > 1 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1])) {
		base = 0
	} else {
		s = strings.ReplaceAll(s, "_", "")
	}
	return strconv.ParseInt(s, base, 32)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// quoteShort quotes s for a message, cutting long values.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// recursiveAlias returns an alias node that refers to one of its own
// ancestors (e.g. `a: &x [*x]`), or nil. Such documents are rejected:
// walking them would never end.
func recursiveAlias(root *yaml.Node) *yaml.Node {
	onPath := map[*yaml.Node]bool{}
	done := map[*yaml.Node]bool{}
	var visit func(n *yaml.Node) *yaml.Node
	visit = func(n *yaml.Node) *yaml.Node {
		if n == nil || done[n] {
			return nil
		}
		onPath[n] = true
		defer func() { onPath[n], done[n] = false, true }()
		if n.Kind == yaml.AliasNode {
			if onPath[n.Alias] {
				return n
			}
			return visit(n.Alias)
		}
		for _, c := range n.Content {
			if bad := visit(c); bad != nil {
				return bad
			}
		}
		return nil
	}
	return visit(root)
}
