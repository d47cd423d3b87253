// Package pgsql quotes PostgreSQL identifiers and literals for building SQL
// text. Every identifier that reaches SQL text goes through Ident.
package pgsql

import "strings"

// Ident returns name as a quoted identifier: always double-quoted, inner
// double quotes doubled, so spaces, upper case, reserved words and
// non-ASCII names are preserved exactly. NUL bytes are dropped (PostgreSQL
// identifiers cannot contain them).
func Ident(name string) string {
	name = strings.ReplaceAll(name, "\x00", "")
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Qualified returns schema.name quoted; an empty schema yields just the name.
func Qualified(schema, name string) string {
	if schema == "" {
		return Ident(name)
	}
	return Ident(schema) + "." + Ident(name)
}

// Idents returns the quoted names joined by ", ".
func Idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Ident(n)
	}
	return strings.Join(q, ", ")
}

// Literal returns s as a standard-conforming string literal.
func Literal(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
