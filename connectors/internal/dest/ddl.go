package dest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrSchema is wrapped by schema mismatches (incompatible types, drift
// under a schema_evolution policy of fail).
var ErrSchema = errors.New("schema mismatch")

// ErrConfig is wrapped by invalid write configurations.
var ErrConfig = errors.New("invalid write configuration")

// ErrData marks a value the destination table cannot hold (out of range,
// not parseable as the column's type); it is a data error, never retried.
var ErrData = errors.New("value not accepted by the destination column")

// validTypeName reports whether a source type text is safe to paste into
// DDL: a name (letters, digits, _, $ and spaces, starting with a letter or
// _) or a quoted identifier (no '"' or NUL inside), optionally qualified by
// one more such part without spaces, then optional modifiers "(p)" or
// "(p, s)" (s may be negative), " with time zone" or " without time zone",
// and "[]". Each part is taken greedily: no later part can start with a
// byte the part before it accepts, so the first parse is the only one.
func validTypeName(s string) bool {
	i, ok := typeNamePart(s, 0, true)
	if !ok {
		return false
	}
	if i < len(s) && s[i] == '.' {
		if i, ok = typeNamePart(s, i+1, false); !ok {
			return false
		}
	}
	if i < len(s) && s[i] == '(' {
		if i, ok = typeModifiers(s, i+1); !ok {
			return false
		}
	}
	if rest, ok := strings.CutPrefix(s[i:], " with time zone"); ok {
		i = len(s) - len(rest)
	} else if rest, ok := strings.CutPrefix(s[i:], " without time zone"); ok {
		i = len(s) - len(rest)
	}
	return s[i:] == "" || s[i:] == "[]"
}

// typeNamePart reads a name (spaces allowed inside when spaces is set) or a
// quoted identifier at s[i:] and returns the index after it.
func typeNamePart(s string, i int, spaces bool) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	if s[i] == '"' {
		j := i + 1
		for j < len(s) && s[j] != '"' && s[j] != 0 {
			j++
		}
		if j == i+1 || j == len(s) || s[j] != '"' {
			return i, false
		}
		return j + 1, true
	}
	if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_') {
		return i, false
	}
	j := i + 1
	for ; j < len(s); j++ {
		c := s[j]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '$' || spaces && c == ' ') {
			break
		}
	}
	return j, true
}

// typeModifiers reads "p)" or "p, s)" at s[i:] (just after the opening
// parenthesis; blanks allowed around the numbers, s may be negative) and
// returns the index after the closing parenthesis.
func typeModifiers(s string, i int) (int, bool) {
	i = skipBlanks(s, i)
	n := leadingDigits(s[i:])
	if n == "" {
		return i, false
	}
	i = skipBlanks(s, i+len(n))
	if i < len(s) && s[i] == ',' {
		i = skipBlanks(s, i+1)
		if i < len(s) && s[i] == '-' {
			i++
		}
		n := leadingDigits(s[i:])
		if n == "" {
			return i, false
		}
		i = skipBlanks(s, i+len(n))
	}
	if i == len(s) || s[i] != ')' {
		return i, false
	}
	return i + 1, true
}

// skipBlanks skips the blanks of RE2's \s (tab, newline, form feed, carriage
// return, space) from s[i:].
func skipBlanks(s string, i int) int {
	for i < len(s) && strings.IndexByte("\t\n\f\r ", s[i]) >= 0 {
		i++
	}
	return i
}

// columnType returns the PostgreSQL type to create for field f: its source
// type when it is a valid type in this database whose binary format this
// connector can write from f's Arrow type, else a type derived from the
// Arrow type (for example an enum missing here becomes text).
func columnType(ctx context.Context, conn *pgclient.Conn, f abi.Field) (string, error) {
	at, err := pgarrow.ParseArrow(f.Type)
	if err != nil {
		return "", fmt.Errorf("%w: field %q: %v", ErrSchema, f.Name, err)
	}
	derived := at.PGName()
	st := strings.TrimSpace(f.SourceType)
	if st == "" || len(st) > 200 || !validTypeName(st) {
		return derived, nil
	}
	rows, err := pgclient.Query(ctx, conn, `
SELECT bt.oid, bt.typtype = 'e', COALESCE(et.oid, 0), COALESCE(et.typtype = 'e', false)
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE t.oid = to_regtype($1)`, []byte(st))
	if err != nil || len(rows) == 0 {
		return derived, nil //nolint:nilerr // an unknown source type falls back to the derived type
	}
	oid, _ := strconv.ParseUint(string(rows[0][0]), 10, 32)
	eoid, _ := strconv.ParseUint(string(rows[0][2]), 10, 32)
	pt := pgarrow.PGType{OID: uint32(oid), Typmod: -1, IsEnum: string(rows[0][1]) == "t"}
	if eoid != 0 {
		pt.Elem = &pgarrow.PGType{OID: uint32(eoid), IsEnum: string(rows[0][3]) == "t"}
	}
	if _, err := pgarrow.NewEncoder([]pgarrow.Type{pgarrow.FromPG(pt)}, []pgarrow.Type{at}); err != nil {
		return derived, nil //nolint:nilerr // not writable from this Arrow type: derived type
	}
	return st, nil
}

// columnDefs returns "name type [NOT NULL]" for every field.
func columnDefs(ctx context.Context, conn *pgclient.Conn, fields []abi.Field) ([]string, error) {
	defs := make([]string, len(fields))
	for i, f := range fields {
		typ, err := columnType(ctx, conn, f)
		if err != nil {
			return nil, err
		}
		defs[i] = pgsql.Ident(f.Name) + " " + typ
		if !f.Nullable {
			defs[i] += " NOT NULL"
		}
	}
	return defs, nil
}

// createTable creates schema.name from fields (with a primary key when pk
// is not empty) unless it exists.
func createTable(ctx context.Context, conn *pgclient.Conn, schema, name string, fields []abi.Field, pk []string, extra ...string) error {
	defs, err := columnDefs(ctx, conn, fields)
	if err != nil {
		return err
	}
	if len(pk) > 0 {
		defs = append(defs, "PRIMARY KEY ("+pgsql.Idents(pk)+")")
	}
	sql := fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE IF NOT EXISTS %s (%s)",
		pgsql.Ident(schema), pgsql.Qualified(schema, name), strings.Join(defs, ", "))
	for _, x := range extra {
		sql += "; " + x
	}
	if err := ddl(ctx, conn, schema, sql); err != nil {
		return fmt.Errorf("create table %s.%s: %w", schema, name, err)
	}
	return nil
}

// ddl runs DDL statements in one transaction holding a per-schema advisory
// lock, so that concurrent writers (partitions of one stream) do not race
// on CREATE ... IF NOT EXISTS, which PostgreSQL does not make atomic.
func ddl(ctx context.Context, conn *pgclient.Conn, schema, sql string) error {
	lock := fmt.Sprintf("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", pgsql.Literal("rapidbyte:"+schema))
	if err := pgclient.Exec(ctx, conn, "BEGIN; "+lock+"; "+sql+"; COMMIT"); err != nil {
		_ = pgclient.Exec(context.WithoutCancel(ctx), conn, "ROLLBACK")
		return err
	}
	return nil
}
