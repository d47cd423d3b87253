package pipeline

import (
	"cmp"
	"fmt"
	pathpkg "path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// IsPattern reports whether a stream name is a shell-style glob selecting
// many tables rather than the name of one.
func IsPattern(name string) bool { return strings.ContainsAny(name, "*?[") }

// pattern validates a pattern entry and moves its name to Pattern.
func (c *checker) pattern(st *StreamConfig, fs map[string]field, nameNode *yaml.Node, p string) {
	if _, err := pathpkg.Match(st.Name, ""); err != nil {
		c.add(nameNode, joinPath(p, "name"), "invalid stream pattern %q: %v", st.Name, err)
	}
	if f, ok := fs["exclude"]; ok {
		for _, ex := range st.Exclude {
			if _, err := pathpkg.Match(ex, ""); err != nil {
				c.add(deref(f.val), joinPath(p, "exclude"), "invalid exclude pattern %q: %v", ex, err)
			}
		}
	}
	if f, ok := fs["destination_table"]; ok {
		c.add(f.key, joinPath(p, "destination_table"), "a pattern selects many tables, so it cannot name one destination table")
	}
	st.Pattern, st.Name = st.Name, ""
}

// Table is one table of a source's catalog, as Expand matches it.
type Table struct {
	// Namespace is the table's schema.
	Namespace string
	// Name is the table's name.
	Name string
}

// String renders the table as "schema.table" (or "table" without a schema).
func (t Table) String() string {
	if t.Namespace == "" {
		return t.Name
	}
	return t.Namespace + "." + t.Name
}

// Selection records the pattern entry that selected a table.
type Selection struct {
	// Pattern is the entry's name as written, e.g. "public.*".
	Pattern string
	// Table is the selected table.
	Table Table
}

// HasPatterns reports whether any stream entry is a pattern.
func (p *Pipeline) HasPatterns() bool {
	return slices.ContainsFunc(p.Source.Streams, func(s StreamConfig) bool { return s.Pattern != "" })
}

// matches reports whether a pattern entry (or an exclude item) selects t:
// a glob with a dot is matched against "schema.table", one without against
// the table name; a namespace on the entry must equal the table's.
func matches(glob, namespace string, t Table) bool {
	if namespace != "" && t.Namespace != namespace {
		return false
	}
	subject := t.Name
	if strings.Contains(glob, ".") {
		subject = t.String()
	}
	ok, err := pathpkg.Match(glob, subject)
	return ok && err == nil
}

// names reports whether an explicit stream entry names t.
func names(s StreamConfig, t Table) bool {
	return s.Name == t.Name && (s.Namespace == "" || s.Namespace == t.Namespace)
}

// Expand returns a copy of p in which every pattern entry is replaced, where
// it stands, by one stream per table it selects, each with the entry's
// settings; the selections say which pattern chose which table. Tables come
// in natural order ("t2" before "t10"). A table an explicit entry names, or
// an earlier pattern selected, is not selected again. A pattern that selects
// nothing, or two selected tables that would share a stream name, is an
// error naming the pattern. Without patterns p itself is returned.
func Expand(p *Pipeline, tables []Table) (*Pipeline, []Selection, error) {
	if !p.HasPatterns() {
		return p, nil, nil
	}
	sorted := slices.Clone(tables)
	slices.SortStableFunc(sorted, func(a, b Table) int {
		return cmp.Or(naturalCompare(a.Namespace, b.Namespace), naturalCompare(a.Name, b.Name))
	})
	taken := map[Table]bool{}
	for _, t := range sorted {
		for _, s := range p.Source.Streams {
			if s.Pattern == "" && names(s, t) {
				taken[t] = true
			}
		}
	}
	var problems []string
	var sels []Selection
	streams := make([]StreamConfig, 0, len(p.Source.Streams))
	byName := map[string]string{} // stream name -> what defined it
	for _, s := range p.Source.Streams {
		if s.Pattern == "" {
			byName[cmp.Or(s.DestinationTable, s.Name)] = fmt.Sprintf("stream %q", s.Name)
		}
	}
	// Explicit streams stay where they were written; a pattern's tables
	// take its place.
	for _, s := range p.Source.Streams {
		if s.Pattern == "" {
			streams = append(streams, s)
			continue
		}
		matched, excluded := 0, 0
		for _, t := range sorted {
			if !matches(s.Pattern, s.Namespace, t) {
				continue
			}
			matched++
			if taken[t] || slices.ContainsFunc(s.Exclude, func(ex string) bool { return matches(ex, "", t) }) {
				excluded++
				continue
			}
			if by, dup := byName[t.Name]; dup {
				problems = append(problems, fmt.Sprintf("stream pattern %q selects %s, whose stream name %q %s already uses", s.Pattern, t, t.Name, by))
				continue
			}
			taken[t] = true
			byName[t.Name] = fmt.Sprintf("pattern %q (table %s)", s.Pattern, t)
			st := s
			st.Pattern, st.Exclude = "", nil
			st.Namespace, st.Name = t.Namespace, t.Name
			streams = append(streams, st)
			sels = append(sels, Selection{Pattern: s.Pattern, Table: t})
		}
		if matched == excluded {
			msg := fmt.Sprintf("stream pattern %q selects no table", s.Pattern)
			if matched > 0 {
				msg += fmt.Sprintf(" (%d matched, all excluded or listed by another entry)", matched)
			} else {
				msg += fmt.Sprintf(" of the source's %d", len(tables))
			}
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	out := *p
	out.Source.Streams = streams
	return &out, sels, nil
}

// naturalCompare orders strings with their digit runs compared as numbers:
// "t2" < "t10".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits returns the length of s's leading run of ASCII digits.
func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
