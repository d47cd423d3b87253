package pipeline

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// RedactYAML returns pipeline YAML fit for run history: in source.config
// and destination.config, every secret key (IsSecretKey with extra) whose
// value is not exactly one ${VAR} reference gets the value "***", and
// passwords inside URL strings there and in state.connection are masked.
// ${VAR} references are kept, so the stored YAML can be parsed and
// resolved again later; only literal secrets are lost. Comments survive,
// formatting may change. src must be valid YAML (Parse it first).
func RedactYAML(src []byte, extra []string) ([]byte, error) {
	text, marker, protected := protectRefs(src)
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("redact pipeline: %w", err)
	}
	if bad := recursiveAlias(&doc); bad != nil {
		return nil, fmt.Errorf("redact pipeline: line %d: alias *%s refers to a node that contains it", bad.Line, bad.Value)
	}
	if protected {
		restoreRefs(&doc, marker)
	}
	if len(doc.Content) == 0 {
		return src, nil
	}
	root := deref(doc.Content[0])
	changed := false
	for _, section := range []string{"source", "destination"} {
		if cfg := child(child(root, section), "config"); cfg != nil {
			changed = redactNode(cfg, extra, map[*yaml.Node]bool{}) || changed
		}
	}
	if conn := child(child(root, "state"), "connection"); conn != nil && conn.Kind == yaml.ScalarNode {
		if v := redactURL(conn.Value); v != conn.Value {
			conn.Value, changed = v, true
		}
	}
	if !changed {
		return src, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("redact pipeline: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("redact pipeline: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k != nil && k.Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// redactNode masks secrets under n in place and reports whether it did.
// Nodes shared through aliases are visited once.
func redactNode(n *yaml.Node, extra []string, seen map[*yaml.Node]bool) bool {
	n = deref(n)
	if n == nil || seen[n] {
		return false
	}
	seen[n] = true
	changed := false
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := deref(n.Content[i]), n.Content[i+1]
			if k != nil && k.Kind == yaml.ScalarNode && IsSecretKey(k.Value, extra) {
				if dv := deref(v); dv != nil && dv.Kind == yaml.ScalarNode && (isSingleRef(dv.Value) || dv.ShortTag() == "!!null") {
					continue
				}
				n.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: Redacted, Style: yaml.DoubleQuotedStyle}
				changed = true
				continue
			}
			changed = redactNode(v, extra, seen) || changed
		}
	case yaml.SequenceNode:
		for _, it := range n.Content {
			changed = redactNode(it, extra, seen) || changed
		}
	case yaml.ScalarNode:
		if v := redactURL(n.Value); v != n.Value {
			n.Value = v
			changed = true
		}
	}
	return changed
}
