package dest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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

// typeName matches source type texts safe to paste into DDL: a (possibly
// schema-qualified, possibly quoted) name with optional modifiers and [].
var typeName = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_ $]*|"[^"\x00]+")(?:\.(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"\x00]+"))?(?:\(\s*\d+\s*(?:,\s*-?\d+\s*)?\))?(?: with(?:out)? time zone)?(?:\[\])?$`)

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
	if st == "" || len(st) > 200 || !typeName.MatchString(st) {
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
