package dest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// SchemaTable is the per-schema table recording the last stream schema a
// pipeline wrote into each table; drift is the difference between it and
// the schema of the current write.
const SchemaTable = "_rapidbyte_schemas"

// Drift axes, named as schema_evolution's keys.
const (
	AxisNewColumn     = "new_column"
	AxisRemovedColumn = "removed_column"
	AxisTypeChange    = "type_change"
	AxisNullability   = "nullability_change"
)

// Policies is schema_evolution: new_column add|ignore|fail (default add),
// removed_column ignore|fail (ignore), type_change coerce|fail|null
// (coerce), nullability_change allow|fail (allow).
type Policies struct {
	NewColumn, RemovedColumn, TypeChange, NullabilityChange string
}

// PoliciesOf returns the policies of spec with defaults filled in.
func PoliciesOf(spec abi.StreamSpec) Policies {
	p := Policies{spec.NewColumn, spec.RemovedColumn, spec.TypeChange, spec.NullabilityChange}
	for _, d := range []struct {
		v   *string
		def string
	}{{&p.NewColumn, "add"}, {&p.RemovedColumn, "ignore"}, {&p.TypeChange, "coerce"}, {&p.NullabilityChange, "allow"}} {
		if *d.v == "" {
			*d.v = d.def
		}
	}
	return p
}

func (p Policies) validate() error {
	for _, c := range []struct{ axis, v, allowed string }{
		{AxisNewColumn, p.NewColumn, "add ignore fail"},
		{AxisRemovedColumn, p.RemovedColumn, "ignore fail"},
		{AxisTypeChange, p.TypeChange, "coerce fail null"},
		{AxisNullability, p.NullabilityChange, "allow fail"},
	} {
		if !containsName(strings.Fields(c.allowed), c.v) {
			return fmt.Errorf("%w: schema_evolution.%s %q (want %s)", ErrConfig, c.axis, c.v, strings.ReplaceAll(c.allowed, " ", ", "))
		}
	}
	return nil
}

// Drift is one difference between the stream and the destination table.
type Drift struct {
	// Axis is one of the Axis constants.
	Axis string
	// Column is the column concerned.
	Column string
	// From and To describe the change ("character varying(20)" to
	// "text", "NOT NULL" to "NULL"); empty when not applicable.
	From, To string
	// Action is the policy that applies: add, ignore, fail, coerce, null
	// or allow.
	Action string
	// Widen is set for a coerce that widens the destination column to To.
	Widen bool
}

// String renders d for a check report or an error.
func (d Drift) String() string {
	s := fmt.Sprintf("%s %q", d.Axis, d.Column)
	if d.From != "" || d.To != "" {
		s += fmt.Sprintf(" (%s -> %s)", d.From, d.To)
	}
	act := d.Action
	if d.Widen {
		act += ": widen the column"
	}
	return s + ": " + act
}

// Plan is the drift of one write and what the policies make of it.
type Plan struct {
	// Drifts lists every difference found, in column order.
	Drifts []Drift
	// Keep are the indexes of the fields written.
	Keep []int
	// Record is the stream schema to record after the write is planned.
	Record []abi.Field
}

// Err returns the schema error listing every drift whose policy is fail.
func (p Plan) Err(schema, table string) error {
	var fails []string
	for _, d := range p.Drifts {
		if d.Action == "fail" {
			fails = append(fails, d.String())
		}
	}
	if len(fails) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s.%s: %s (schema_evolution)", ErrSchema, schema, table, strings.Join(fails, "; "))
}

// fieldType is the type identity of a field for drift: its source type
// when known, else its Arrow type.
func fieldType(f abi.Field) string {
	if f.SourceType != "" {
		return f.SourceType
	}
	return f.Type
}

// PlanDrift compares the stream's fields with table t and with prev, the
// stream schema recorded by the previous write (nil when none). New
// columns are columns t lacks; removed columns, type and nullability
// changes are changes since prev of columns t still has.
func PlanDrift(t pgcatalog.Table, prev, fields []abi.Field, pol Policies) Plan {
	var p Plan
	prevOf := map[string]abi.Field{}
	for _, f := range prev {
		prevOf[f.Name] = f
	}
	for i, f := range fields {
		rec := f
		col, _, ok := t.Column(f.Name)
		if !ok {
			d := Drift{Axis: AxisNewColumn, Column: f.Name, To: fieldType(f), Action: pol.NewColumn}
			p.Drifts = append(p.Drifts, d)
			if d.Action == "add" {
				p.Keep = append(p.Keep, i)
			}
			p.Record = append(p.Record, rec)
			continue
		}
		keep := true
		if old, ok := prevOf[f.Name]; ok {
			if fieldType(old) != fieldType(f) {
				d := Drift{Axis: AxisTypeChange, Column: f.Name, From: fieldType(old), To: fieldType(f), Action: pol.TypeChange}
				switch d.Action {
				case "coerce":
					d.Widen = old.SourceType != "" && old.SourceType == col.SourceType && widens(old.SourceType, f.SourceType)
				case "null":
					keep = false
					rec = old // the column keeps being written as NULL until the policy changes
				}
				p.Drifts = append(p.Drifts, d)
			}
			if !old.Nullable && f.Nullable && !col.Nullable && !containsName(t.PrimaryKey, f.Name) {
				p.Drifts = append(p.Drifts, Drift{Axis: AxisNullability, Column: f.Name, From: "NOT NULL", To: "NULL", Action: pol.NullabilityChange})
			}
		}
		if keep {
			p.Keep = append(p.Keep, i)
		}
		p.Record = append(p.Record, rec)
	}
	for _, old := range prev {
		if _, _, inTable := t.Column(old.Name); inTable && !hasField(fields, old.Name) {
			p.Drifts = append(p.Drifts, Drift{Axis: AxisRemovedColumn, Column: old.Name, From: fieldType(old), Action: pol.RemovedColumn})
		}
	}
	return p
}

func hasField(fields []abi.Field, name string) bool {
	for _, f := range fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

var (
	intRank   = map[string]int{"smallint": 1, "integer": 2, "bigint": 3}
	floatRank = map[string]int{"real": 1, "double precision": 2}
)

// widens reports whether every value of PostgreSQL type from fits type to
// unchanged (format_type spellings): a wider integer or float, a longer
// (or unbounded) varchar or text, a numeric with at least as many integer
// and fraction digits.
func widens(from, to string) bool {
	if a, b := intRank[from], intRank[to]; a > 0 && b > a {
		return true
	}
	if a, b := floatRank[from], floatRank[to]; a > 0 && b > a {
		return true
	}
	if m, ok := varcharLength(from); ok {
		if to == "text" {
			return true
		}
		n, ok := varcharLength(to)
		return ok && m != "" && (n == "" || atoi(n) > atoi(m))
	}
	if p0, s0, ok := numericModifiers(from); ok && p0 != "" {
		p1, s1, ok := numericModifiers(to)
		if !ok {
			return false
		}
		if p1 == "" {
			return true
		}
		fromP, fromS, toP, toS := atoi(p0), atoi(s0), atoi(p1), atoi(s1)
		return toS >= fromS && toP-toS >= fromP-fromS && (toP != fromP || toS != fromS)
	}
	return false
}

// varcharLength matches format_type's "character varying" (n is "") and
// "character varying(n)".
func varcharLength(t string) (n string, ok bool) {
	rest, ok := strings.CutPrefix(t, "character varying")
	if !ok || rest == "" {
		return "", ok
	}
	n, ok = parenthesized(rest)
	return n, ok && allDigits(n)
}

// numericModifiers matches format_type's "numeric" (p and s are "") and
// "numeric(p,s)".
func numericModifiers(t string) (p, s string, ok bool) {
	rest, ok := strings.CutPrefix(t, "numeric")
	if !ok || rest == "" {
		return "", "", ok
	}
	mods, ok := parenthesized(rest)
	if !ok {
		return "", "", false
	}
	p, s, ok = strings.Cut(mods, ",")
	return p, s, ok && allDigits(p) && allDigits(s)
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool { return s != "" && leadingDigits(s) == s }

// parenthesized returns what s wraps in one pair of parentheses.
func parenthesized(s string) (string, bool) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return "", false
	}
	return s[1 : len(s)-1], true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// ensureSchemaTable creates the schema record table.
func ensureSchemaTable(ctx context.Context, conn *pgclient.Conn, schema string) error {
	sql := fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (
  pipeline   text        NOT NULL,
  stream     text        NOT NULL,
  fields     jsonb       NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, stream))`, pgsql.Ident(schema), pgsql.Qualified(schema, SchemaTable))
	if err := ddl(ctx, conn, schema, sql); err != nil {
		return fmt.Errorf("create schema record table: %w", err)
	}
	return nil
}

// RecordedSchema returns the stream schema recorded for pipeline's writes
// into schema.table, nil when none (or no record table).
func RecordedSchema(ctx context.Context, conn *pgclient.Conn, schema, pipeline, table string) ([]abi.Field, error) {
	qualified := pgsql.Qualified(schema, SchemaTable)
	rows, err := pgclient.Query(ctx, conn, "SELECT to_regclass($1) IS NOT NULL", []byte(qualified))
	if err != nil {
		return nil, fmt.Errorf("find schema record table: %w", err)
	}
	if string(rows[0][0]) != "t" {
		return nil, nil
	}
	rows, err = pgclient.Query(ctx, conn, fmt.Sprintf("SELECT fields FROM %s WHERE pipeline = $1 AND stream = $2", qualified),
		[]byte(pipeline), []byte(table))
	if err != nil {
		return nil, fmt.Errorf("read recorded schema: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	var fields []abi.Field
	if err := json.Unmarshal(rows[0][0], &fields); err != nil {
		return nil, fmt.Errorf("read recorded schema: %w", err)
	}
	return fields, nil
}

// recordSchema stores fields as the stream schema of pipeline's writes
// into schema.table.
func recordSchema(ctx context.Context, conn *pgclient.Conn, schema, pipeline, table string, fields []abi.Field) error {
	b, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("encode schema record: %w", err)
	}
	_, err = pgclient.Query(ctx, conn, fmt.Sprintf(`INSERT INTO %s (pipeline, stream, fields) VALUES ($1, $2, $3)
ON CONFLICT (pipeline, stream) DO UPDATE SET fields = EXCLUDED.fields, updated_at = now()`, pgsql.Qualified(schema, SchemaTable)),
		[]byte(pipeline), []byte(table), b)
	if err != nil {
		return fmt.Errorf("record stream schema: %w", err)
	}
	return nil
}

// PlanWrite plans the drift of a write of spec with fields into schema
// without changing anything; exists is false (and the plan empty) when the
// destination table does not exist yet.
func PlanWrite(ctx context.Context, conn *pgclient.Conn, schema string, spec abi.StreamSpec, fields []abi.Field) (plan Plan, exists bool, err error) {
	if schema == "" {
		schema = "public"
	}
	target := spec.DestinationTable
	if target == "" {
		target = spec.Name
	}
	pol := PoliciesOf(spec)
	if err := pol.validate(); err != nil {
		return Plan{}, false, err
	}
	t, ok, err := pgcatalog.Lookup(ctx, conn, schema, target)
	if err != nil || !ok {
		return Plan{}, false, err
	}
	prev, err := RecordedSchema(ctx, conn, schema, spec.Pipeline, target)
	if err != nil {
		return Plan{}, true, err
	}
	return PlanDrift(t, prev, fields, pol), true, nil
}

// evolve plans the drift of fields against table t (and the schema the
// pipeline recorded for it), fails on a drift whose policy is fail, applies
// the DDL the others need (add columns, widen types, drop NOT NULL),
// records the stream schema and returns the fields to write and the
// refreshed table.
func (w *writer) evolve(ctx context.Context, t pgcatalog.Table, fields []abi.Field) ([]int, pgcatalog.Table, error) {
	pol := PoliciesOf(w.req.Stream)
	if err := pol.validate(); err != nil {
		return nil, t, err
	}
	if err := ensureSchemaTable(ctx, w.conn, w.schema); err != nil {
		return nil, t, err
	}
	prev, err := RecordedSchema(ctx, w.conn, w.schema, w.req.Stream.Pipeline, w.target)
	if err != nil {
		return nil, t, err
	}
	plan := PlanDrift(t, prev, fields, pol)
	if err := plan.Err(t.Schema, t.Name); err != nil {
		return nil, t, err
	}
	var alters []string
	for _, d := range plan.Drifts {
		switch {
		case d.Axis == AxisNewColumn && d.Action == "add":
			f := fields[fieldIndex(fields, d.Column)]
			f.Nullable = true // existing rows get NULL
			defs, err := columnDefs(ctx, w.conn, []abi.Field{f})
			if err != nil {
				return nil, t, err
			}
			alters = append(alters, "ADD COLUMN IF NOT EXISTS "+defs[0])
		case d.Axis == AxisTypeChange && d.Widen:
			typ, err := columnType(ctx, w.conn, fields[fieldIndex(fields, d.Column)])
			if err != nil {
				return nil, t, err
			}
			alters = append(alters, fmt.Sprintf("ALTER COLUMN %s TYPE %s", pgsql.Ident(d.Column), typ))
		case d.Axis == AxisNullability && d.Action == "allow":
			alters = append(alters, fmt.Sprintf("ALTER COLUMN %s DROP NOT NULL", pgsql.Ident(d.Column)))
		}
	}
	if len(alters) > 0 {
		if err := ddl(ctx, w.conn, t.Schema, fmt.Sprintf("ALTER TABLE %s %s", pgsql.Qualified(t.Schema, t.Name), strings.Join(alters, ", "))); err != nil {
			return nil, t, fmt.Errorf("evolve %s.%s: %w", t.Schema, t.Name, err)
		}
		nt, ok, err := pgcatalog.Lookup(ctx, w.conn, t.Schema, t.Name)
		if err != nil || !ok {
			return nil, t, fmt.Errorf("reload %s.%s after evolving it: %v", t.Schema, t.Name, err)
		}
		t = nt
	}
	if err := recordSchema(ctx, w.conn, w.schema, w.req.Stream.Pipeline, w.target, plan.Record); err != nil {
		return nil, t, err
	}
	w.stats.Drifts = plan.Drifts
	return plan.Keep, t, nil
}

func fieldIndex(fields []abi.Field, name string) int {
	for i, f := range fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}
