package engine

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
)

// RedactYAML returns the pipeline YAML to store: literal secret values in
// the source and destination configs and in state.connection (keys that
// pipeline.IsSecretKey names, and passwords inside URLs) are replaced by
// pipeline.Redacted. Values that are only ${VAR} references are kept, since
// they hold no secret. The input is returned unchanged when it has nothing
// to redact, so its formatting survives.
func RedactYAML(src []byte) ([]byte, error) {
	// ${NAME} is not valid inside YAML flow collections ({password: ${PW}}):
	// parse a copy where references use a marker absent from the source.
	open, closing, ok := refMarker(src)
	protected := src
	if ok {
		protected = refRE.ReplaceAllFunc(src, func(ref []byte) []byte {
			return []byte("$" + open + string(ref[2:len(ref)-1]) + closing)
		})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(protected, &doc); err != nil {
		return nil, fmt.Errorf("parse pipeline: %w", err)
	}
	if len(doc.Content) == 0 {
		return src, nil
	}
	root := doc.Content[0]
	changed := false
	for _, section := range []string{"source", "destination"} {
		if cfg := child(child(root, section), "config"); cfg != nil {
			changed = redactNode(cfg, false) || changed
		}
	}
	if conn := child(child(root, "state"), "connection"); conn != nil {
		changed = redactNode(conn, false) || changed
	}
	if !changed {
		return src, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode pipeline: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode pipeline: %w", err)
	}
	out := buf.Bytes()
	if ok {
		back := regexp.MustCompile(`\$` + regexp.QuoteMeta(open) + `([A-Za-z_][A-Za-z0-9_]*)` + regexp.QuoteMeta(closing))
		out = back.ReplaceAll(out, []byte("$${$1}"))
	}
	return out, nil
}

var refRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// refMarker picks delimiters that do not follow a "$" anywhere in src.
func refMarker(src []byte) (open, closing string, ok bool) {
	if !refRE.Match(src) {
		return "", "", false
	}
	for _, m := range [][2]string{{"(", ")"}, {"<", ">"}, {"~", "~"}, {"^", "^"}} {
		if !bytes.Contains(src, []byte("$"+m[0])) {
			return m[0], m[1], true
		}
	}
	return "", "", false
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// redactNode masks secrets under n; secret says n is the value of a secret
// key. It reports whether anything changed.
func redactNode(n *yaml.Node, secret bool) bool {
	switch n.Kind {
	case yaml.MappingNode:
		changed := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			changed = redactNode(v, secret || pipeline.IsSecretKey(k.Value, nil)) || changed
		}
		return changed
	case yaml.SequenceNode:
		changed := false
		for _, c := range n.Content {
			changed = redactNode(c, secret) || changed
		}
		return changed
	case yaml.ScalarNode:
		if onlyRefs(n.Value) {
			return false
		}
		if secret {
			if n.Value == pipeline.Redacted {
				return false
			}
			n.Value, n.Tag, n.Style = pipeline.Redacted, "!!str", 0
			return true
		}
		if masked, ok := maskURL(n.Value); ok {
			n.Value = masked
			return true
		}
	}
	return false
}

// onlyRefs reports whether s is made only of (protected) ${VAR}
// references and whitespace, i.e. holds no literal value.
func onlyRefs(s string) bool {
	return s != "" && strings.TrimSpace(anyRefRE.ReplaceAllString(s, "")) == "" && strings.Contains(s, "$")
}

// anyRefRE matches a reference in any of the marker forms.
var anyRefRE = regexp.MustCompile(`\$[{(<~^][A-Za-z_][A-Za-z0-9_]*[})>~^]`)

// maskURL masks a literal password in a URL ("postgres://u:pw@h/db").
func maskURL(s string) (string, bool) {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return "", false
	}
	pw, ok := u.User.Password()
	if !ok || pw == pipeline.Redacted || onlyRefs(pw) {
		return "", false
	}
	u.User = url.UserPassword(u.User.Username(), pipeline.Redacted)
	return strings.Replace(u.String(), url.QueryEscape(pipeline.Redacted), pipeline.Redacted, 1), true
}
