// Package pgcatalog reads table definitions (columns, types, primary keys)
// from the PostgreSQL system catalogs.
package pgcatalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
)

// Table is one base table.
type Table struct {
	// Schema and Name identify the table.
	Schema, Name string
	// Columns are in ordinal order.
	Columns []Column
	// PrimaryKey lists the primary key columns in key order.
	PrimaryKey []string
	// Partitioned is true for a partitioned (parent) table.
	Partitioned bool
}

// Column is one column of a table.
type Column struct {
	// Name is the column name.
	Name string
	// Type is the conversion type.
	Type pgarrow.Type
	// SourceType is format_type(atttypid, atttypmod), for example
	// "numeric(12,2)", "character varying(20)", "integer[]", "mood".
	SourceType string
	// Nullable is false for NOT NULL columns.
	Nullable bool
}

// Column returns the column named name.
func (t *Table) Column(name string) (Column, int, bool) {
	for i, c := range t.Columns {
		if c.Name == name {
			return c, i, true
		}
	}
	return Column{}, -1, false
}

// columnsSQL lists columns of base tables. $1 = schema (” = every
// non-system schema), $2 = the tables' names as a JSON array ('[]' =
// every table).
const columnsSQL = `
SELECT n.nspname, c.relname, c.relkind = 'p', a.attname, NOT a.attnotnull,
       format_type(a.atttypid, a.atttypmod),
       bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       bt.typtype = 'e',
       COALESCE(et.oid, 0), COALESCE(et.typtype = 'e', false)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND ($1 = '' OR n.nspname = $1)
  AND ($2 = '[]' OR c.relname = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname, c.relname, a.attnum`

// pkSQL lists primary key columns in key order, same parameters.
const pkSQL = `
SELECT n.nspname, c.relname, a.attname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
WHERE i.indisprimary
  AND ($1 = '' OR n.nspname = $1)
  AND ($2 = '[]' OR c.relname = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))
ORDER BY n.nspname, c.relname, array_position(i.indkey::int2[], a.attnum)`

// Tables returns the base tables of schema (” = all non-system schemas),
// restricted to those named in names when it is not empty, sorted by
// schema and name.
func Tables(ctx context.Context, conn *pgclient.Conn, schema string, names []string) ([]Table, error) {
	filter, err := namesParam(names)
	if err != nil {
		return nil, err
	}
	rows, err := pgclient.Query(ctx, conn, columnsSQL, []byte(schema), filter)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	var out []Table
	index := map[[2]string]int{}
	for _, r := range rows {
		key := [2]string{string(r[0]), string(r[1])}
		ti, ok := index[key]
		if !ok {
			ti = len(out)
			index[key] = ti
			out = append(out, Table{Schema: key[0], Name: key[1], Partitioned: string(r[2]) == "t"})
		}
		oid, err1 := strconv.ParseUint(string(r[6]), 10, 32)
		typmod, err2 := strconv.ParseInt(string(r[7]), 10, 32)
		eoid, err3 := strconv.ParseUint(string(r[9]), 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("column %q of %s.%s: bad catalog row", r[3], key[0], key[1])
		}
		pt := pgarrow.PGType{OID: uint32(oid), Typmod: int32(typmod), IsEnum: string(r[8]) == "t"}
		if eoid != 0 {
			pt.Elem = &pgarrow.PGType{OID: uint32(eoid), IsEnum: string(r[10]) == "t"}
		}
		out[ti].Columns = append(out[ti].Columns, Column{
			Name:       string(r[3]),
			Nullable:   string(r[4]) == "t",
			SourceType: string(r[5]),
			Type:       pgarrow.FromPG(pt),
		})
	}
	pks, err := pgclient.Query(ctx, conn, pkSQL, []byte(schema), filter)
	if err != nil {
		return nil, fmt.Errorf("list primary keys: %w", err)
	}
	for _, r := range pks {
		if ti, ok := index[[2]string{string(r[0]), string(r[1])}]; ok {
			out[ti].PrimaryKey = append(out[ti].PrimaryKey, string(r[2]))
		}
	}
	return out, nil
}

// sizesSQL estimates each base table's size from the catalog alone, as the
// planner does: pages (pg_class.relpages, kept by VACUUM, ANALYZE and
// CREATE INDEX) of the table and its TOAST table, summed over its
// partitions or inheritance children, times the block size. It takes no
// lock (pg_table_size would lock every table of the schema). A table never
// vacuumed or analyzed counts 0. $1 and $2 as in columnsSQL.
const sizesSQL = `
WITH RECURSIVE tree(root, rel) AS (
  SELECT c.oid, c.oid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND ($1 = '' OR n.nspname = $1)
    AND ($2 = '[]' OR c.relname = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
  UNION ALL
  SELECT t.root, i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent = t.rel
)
SELECT n.nspname, c.relname,
       sum(GREATEST(r.relpages, 0) + COALESCE(GREATEST(tt.relpages, 0), 0))::bigint * current_setting('block_size')::bigint
FROM tree t
JOIN pg_catalog.pg_class c ON c.oid = t.root
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = t.rel
LEFT JOIN pg_catalog.pg_class tt ON tt.oid = r.reltoastrelid
GROUP BY n.nspname, c.relname`

// Sizes returns the estimated size in bytes of every base table of schema
// (an empty schema: every non-system schema), or of those named in names
// when it is not empty, keyed by schema and name.
func Sizes(ctx context.Context, conn *pgclient.Conn, schema string, names []string) (map[[2]string]uint64, error) {
	filter, err := namesParam(names)
	if err != nil {
		return nil, err
	}
	rows, err := pgclient.Query(ctx, conn, sizesSQL, []byte(schema), filter)
	if err != nil {
		return nil, fmt.Errorf("estimate table sizes: %w", err)
	}
	out := make(map[[2]string]uint64, len(rows))
	for _, r := range rows {
		n, err := strconv.ParseUint(string(r[2]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("size of %s.%s: bad catalog row %q", r[0], r[1], r[2])
		}
		out[[2]string{string(r[0]), string(r[1])}] = n
	}
	return out, nil
}

// namesParam is the queries' table filter: names as a JSON array, '[]'
// (every table) when there are none.
func namesParam(names []string) ([]byte, error) {
	if len(names) == 0 {
		return []byte("[]"), nil
	}
	b, err := json.Marshal(names)
	if err != nil {
		return nil, fmt.Errorf("table names: %w", err)
	}
	return b, nil
}

// Lookup returns one table, ok false when it does not exist.
func Lookup(ctx context.Context, conn *pgclient.Conn, schema, table string) (Table, bool, error) {
	ts, err := Tables(ctx, conn, schema, []string{table})
	if err != nil || len(ts) == 0 {
		return Table{}, false, err
	}
	return ts[0], true, nil
}
