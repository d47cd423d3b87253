package pipeline

import (
	"bytes"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML forbids "{" and "}" in plain scalars inside flow collections, so
// `config: {password: ${PG_PASSWORD}}` (the form DESIGN §3 uses) is not
// valid YAML as written. Before parsing, every well-formed ${NAME} is
// rewritten to a same-length form such as $(NAME) using delimiters absent
// from the source; after parsing, scalar values are rewritten back. Line
// and column positions are unchanged.

var (
	refRE      = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)
	refMarkers = [][2]byte{{'(', ')'}, {'<', '>'}, {'~', '~'}, {'^', '^'}, {'=', '='}}
	markerREs  = func() map[[2]byte]*regexp.Regexp {
		res := map[[2]byte]*regexp.Regexp{}
		for _, m := range refMarkers {
			res[m] = regexp.MustCompile(`\$` + regexp.QuoteMeta(string(m[0])) + `[A-Za-z_][A-Za-z0-9_]*` + regexp.QuoteMeta(string(m[1])))
		}
		return res
	}()
)

// protectRefs returns src with ${NAME} references rewritten and the marker
// used; ok is false when no rewrite was needed or possible.
func protectRefs(src []byte) (out []byte, marker [2]byte, ok bool) {
	if !refRE.Match(src) {
		return src, marker, false
	}
	for _, m := range refMarkers {
		if bytes.Contains(src, []byte{'$', m[0]}) {
			continue
		}
		out = refRE.ReplaceAllFunc(src, func(ref []byte) []byte {
			r := bytes.Clone(ref)
			r[1], r[len(r)-1] = m[0], m[1]
			return r
		})
		return out, m, true
	}
	return src, marker, false
}

// restoreRefs undoes protectRefs in every scalar of the tree under n.
func restoreRefs(n *yaml.Node, marker [2]byte) {
	re := markerREs[marker]
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.ScalarNode && strings.IndexByte(n.Value, '$') >= 0 {
			n.Value = re.ReplaceAllStringFunc(n.Value, func(ref string) string {
				return "${" + ref[2:len(ref)-1] + "}"
			})
		}
		for _, c := range n.Content {
			walk(c)
		}
		walk(n.Alias)
	}
	walk(n)
}
