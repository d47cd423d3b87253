package e2etest

import (
	"fmt"
	"strings"
	"testing"
)

// Checksum summarises a table (or one column of it): its row count and the
// md5 of its rows' text forms joined in a fixed order.
type Checksum struct {
	Count int64
	MD5   string
}

// String renders the checksum for messages.
func (c Checksum) String() string { return fmt.Sprintf("%d rows md5 %s", c.Count, c.MD5) }

// rowText is the SQL text form of cols of alias r; nulls become a marker
// that cannot collide with a value's text.
func rowText(cols []string) string {
	if len(cols) == 0 {
		return "r::text"
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("coalesce(quote_literal(r.%s::text), 'NULL')", Ident(c))
	}
	return strings.Join(parts, " || ',' || ")
}

// TableChecksum returns the count and md5 of table (quoted, see Ident)
// restricted to cols (all columns when empty), rows ordered by orderBy (an
// SQL expression over alias r, e.g. `r.id`; empty orders by the row text,
// which makes the checksum independent of physical order).
func TableChecksum(t testing.TB, db *DB, table, orderBy string, cols ...string) Checksum {
	t.Helper()
	txt := rowText(cols)
	if orderBy == "" {
		orderBy = txt
	}
	q := fmt.Sprintf("SELECT count(*), coalesce(md5(string_agg(%s, E'\\n' ORDER BY %s)), '') FROM %s AS r", txt, orderBy, table)
	var c Checksum
	db.QueryRow(t, q, nil, &c.Count, &c.MD5)
	return c
}

// ColumnChecksums returns, for each col, the checksum of that column's
// values (text form, NULL marked) with rows ordered by orderBy (see TableChecksum).
func ColumnChecksums(t testing.TB, db *DB, table, orderBy string, cols ...string) map[string]Checksum {
	t.Helper()
	out := make(map[string]Checksum, len(cols))
	for _, c := range cols {
		out[c] = TableChecksum(t, db, table, orderBy, c)
	}
	return out
}

// RequireSameTable fails the test unless srcTable in src and dstTable in dst
// (quoted names, see Ident) hold the same rows over cols (every column of
// srcTable's when empty; pass unqualified names, resolved in the table's
// schema), compared by count and md5 ordered by orderBy (see TableChecksum).
// On mismatch it reports which columns differ and the first differing rows.
func RequireSameTable(t testing.TB, src, dst *DB, srcTable, dstTable, orderBy string, cols ...string) {
	t.Helper()
	if len(cols) == 0 {
		cols = src.Strings(t, fmt.Sprintf(`SELECT a.attname::text FROM pg_attribute a
			WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, quoteLiteral(srcTable)))
	}
	s := TableChecksum(t, src, srcTable, orderBy, cols...)
	d := TableChecksum(t, dst, dstTable, orderBy, cols...)
	if s == d {
		return
	}
	var diffs []string
	for _, c := range cols {
		cs := TableChecksum(t, src, srcTable, orderBy, c)
		cd := TableChecksum(t, dst, dstTable, orderBy, c)
		if cs != cd {
			diffs = append(diffs, fmt.Sprintf("  column %q: source %s, destination %s\n    source sample: %v\n    dest sample:   %v",
				c, cs, cd, sample(t, src, srcTable, orderBy, c), sample(t, dst, dstTable, orderBy, c)))
		}
	}
	t.Fatalf("%s.%s and %s.%s differ: source %s, destination %s\n%s",
		src.Name, srcTable, dst.Name, dstTable, s, d, strings.Join(diffs, "\n"))
}

// RequireSameQuery fails the test unless query yields the same first-column
// values (as text, in order) on src and dst.
func RequireSameQuery(t testing.TB, src, dst *DB, query string) {
	t.Helper()
	a, b := src.Strings(t, query), dst.Strings(t, query)
	if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
		t.Fatalf("query %q differs:\n  source:      %q\n  destination: %q", abbrev(query), trunc(a), trunc(b))
	}
}

func sample(t testing.TB, db *DB, table, orderBy, col string) []string {
	t.Helper()
	txt := rowText([]string{col})
	if orderBy == "" {
		orderBy = txt
	}
	return db.Strings(t, fmt.Sprintf("SELECT %s FROM %s AS r ORDER BY %s LIMIT 5", txt, table, orderBy))
}

func trunc(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], fmt.Sprintf("... (%d more)", len(s)-10))
	}
	return s
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
