package cdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
)

// ErrConfig is wrapped by errors the user fixes in the pipeline or on the
// server (wal_level, replica identity, primary keys, names).
var ErrConfig = errors.New("cdc configuration")

// ErrSchema is wrapped by source schema changes CDC cannot follow.
var ErrSchema = errors.New("cdc schema change")

// ErrSlotLost is wrapped when the replication slot is gone or invalidated.
var ErrSlotLost = errors.New("replication slot lost")

// ErrSlotBusy is wrapped when another connection streams from the slot
// (a concurrent run, or the backend of a failed attempt not yet gone).
var ErrSlotBusy = errors.New("replication slot in use")

// Table is a source table of a change stream.
type Table struct {
	Schema, Name string
	Columns      []Column
	typeOIDs     []uint32
	typeMods     []int32
	Key          []string
	replIdent    string
	qualified    string // Schema + "." + Name, set by LoadTable: the envelope repeats it per change
}

// Qualified returns "schema.name", the envelope's table value.
func (t *Table) Qualified() string {
	if t.qualified != "" {
		return t.qualified
	}
	return t.Schema + "." + t.Name
}

// DefaultName derives a slot or publication name from the pipeline name:
// "rapidbyte_" plus the name lower-cased with other characters as "_",
// at most 63 characters.
func DefaultName(pipeline string) string {
	var b strings.Builder
	b.WriteString("rapidbyte_")
	for _, r := range strings.ToLower(pipeline) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// ValidName reports whether s can name a slot or publication here:
// lower-case letters, digits and underscores, not starting with a digit, at
// most 63 characters.
func ValidName(s string) bool {
	if s == "" || len(s) > 63 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CheckServer verifies that the server can serve logical replication.
func CheckServer(ctx context.Context, conn *pgclient.Conn) error {
	rows, err := pgclient.Query(ctx, conn, "SELECT current_setting('wal_level'), (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)::text")
	if err != nil {
		return fmt.Errorf("read wal_level: %w", err)
	}
	if string(rows[0][0]) != "logical" {
		return fmt.Errorf("%w: the source server runs with wal_level=%s; CDC needs wal_level=logical "+
			"(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", ErrConfig, rows[0][0])
	}
	if string(rows[0][1]) != "true" {
		return fmt.Errorf("%w: role lacks the REPLICATION attribute (ALTER ROLE ... WITH REPLICATION)", ErrConfig)
	}
	return nil
}

// ServesCDC reports whether the server runs with wal_level=logical.
func ServesCDC(ctx context.Context, conn *pgclient.Conn) bool {
	rows, err := pgclient.Query(ctx, conn, "SELECT current_setting('wal_level')")
	return err == nil && len(rows) == 1 && string(rows[0][0]) == "logical"
}

// LoadTable reads the columns, key and replica identity of schema.name.
// declaredKey is used when the table has no primary key.
func LoadTable(ctx context.Context, conn *pgclient.Conn, schema, name string, declaredKey []string) (Table, error) {
	rows, err := pgclient.Query(ctx, conn, `SELECT c.relreplident::text,
  (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'oid', a.atttypid::int8, 'mod', a.atttypmod) ORDER BY a.attnum)
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,
  coalesce((SELECT json_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
     FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = c.oid AND i.indisprimary), '[]')::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, []byte(schema), []byte(name))
	if err != nil {
		return Table{}, fmt.Errorf("read table %s.%s: %w", schema, name, err)
	}
	if len(rows) == 0 {
		return Table{}, fmt.Errorf("%w: table %s.%s does not exist", ErrConfig, schema, name)
	}
	t := Table{Schema: schema, Name: name, replIdent: string(rows[0][0]), qualified: schema + "." + name}
	var cols []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		OID  uint32 `json:"oid"`
		Mod  int32  `json:"mod"`
	}
	if err := json.Unmarshal(rows[0][1], &cols); err != nil {
		return Table{}, fmt.Errorf("read columns of %s.%s: %w", schema, name, err)
	}
	for _, c := range cols {
		t.Columns = append(t.Columns, Column{Name: c.Name, Type: c.Type})
		t.typeOIDs = append(t.typeOIDs, c.OID)
		t.typeMods = append(t.typeMods, c.Mod)
	}
	if err := json.Unmarshal(rows[0][2], &t.Key); err != nil {
		return Table{}, fmt.Errorf("read primary key of %s.%s: %w", schema, name, err)
	}
	if len(t.Key) == 0 {
		t.Key = declaredKey
	}
	switch {
	case len(t.Key) == 0:
		return Table{}, fmt.Errorf("%w: table %s.%s has no primary key; CDC applies changes by key: add a primary key or declare destination.primary_key", ErrConfig, schema, name)
	case t.replIdent == "n":
		return Table{}, fmt.Errorf("%w: table %s.%s has REPLICA IDENTITY NOTHING, so its updates and deletes carry no key: ALTER TABLE %s REPLICA IDENTITY DEFAULT (or FULL)",
			ErrConfig, schema, name, pgsql.Qualified(schema, name))
	case t.replIdent == "d" && len(cols) > 0 && !hasPrimaryKey(ctx, conn, schema, name):
		return Table{}, fmt.Errorf("%w: table %s.%s has no primary key, so REPLICA IDENTITY DEFAULT sends no key: ALTER TABLE %s REPLICA IDENTITY FULL (or add a primary key)",
			ErrConfig, schema, name, pgsql.Qualified(schema, name))
	}
	for _, k := range t.Key {
		if t.column(k) < 0 {
			return Table{}, fmt.Errorf("%w: key column %q not found in %s.%s", ErrConfig, k, schema, name)
		}
	}
	return t, nil
}

func hasPrimaryKey(ctx context.Context, conn *pgclient.Conn, schema, name string) bool {
	rows, err := pgclient.Query(ctx, conn, `SELECT 1 FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisprimary`, []byte(pgsql.Qualified(schema, name)))
	return err == nil && len(rows) > 0
}

func (t *Table) column(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Payload returns the table's OpSchema payload.
func (t *Table) Payload(truncate bool) TableSchema {
	return TableSchema{Columns: t.Columns, Key: t.Key, Truncate: truncate}
}

// EnsurePublication creates publication pub for tables when it is missing,
// and adds the tables it lacks.
func EnsurePublication(ctx context.Context, conn *pgclient.Conn, pub string, tables []Table) error {
	rows, err := pgclient.Query(ctx, conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", []byte(pub))
	if err != nil {
		return fmt.Errorf("find publication %q: %w", pub, err)
	}
	if len(rows) == 0 {
		names := make([]string, len(tables))
		for i := range tables {
			names[i] = pgsql.Qualified(tables[i].Schema, tables[i].Name)
		}
		sql := fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (publish_via_partition_root = true)", pgsql.Ident(pub), strings.Join(names, ", "))
		if err := pgclient.Exec(ctx, conn, sql); err != nil {
			return fmt.Errorf("create publication %q: %w", pub, err)
		}
		return nil
	}
	have, err := pgclient.Query(ctx, conn, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1", []byte(pub))
	if err != nil {
		return fmt.Errorf("read publication %q: %w", pub, err)
	}
	in := map[string]bool{}
	for _, r := range have {
		in[string(r[0])] = true
	}
	for i := range tables {
		if !in[tables[i].Qualified()] {
			sql := fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s", pgsql.Ident(pub), pgsql.Qualified(tables[i].Schema, tables[i].Name))
			if err := pgclient.Exec(ctx, conn, sql); err != nil {
				return fmt.Errorf("add %s to publication %q: %w", tables[i].Qualified(), pub, err)
			}
		}
	}
	return nil
}

// slotState is a replication slot's row in pg_replication_slots.
type slotState struct {
	exists    bool
	active    bool
	walStatus string
}

func readSlot(ctx context.Context, conn *pgclient.Conn, slot string) (slotState, error) {
	rows, err := pgclient.Query(ctx, conn, "SELECT active::text, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1", []byte(slot))
	if err != nil {
		return slotState{}, fmt.Errorf("read replication slot %q: %w", slot, err)
	}
	if len(rows) == 0 {
		return slotState{}, nil
	}
	return slotState{exists: true, active: string(rows[0][0]) == "true", walStatus: string(rows[0][1])}, nil
}

// Drop drops the replication slot and the publication when they exist and
// says what it did. A slot in use (a running follow, or the backend of an
// attempt not yet gone) is not dropped: it fails with ErrSlotBusy.
func Drop(ctx context.Context, conn *pgclient.Conn, slot, pub string) (string, error) {
	st, err := readSlot(ctx, conn, slot)
	if err != nil {
		return "", err
	}
	if st.active {
		return "", fmt.Errorf("%w: replication slot %q is in use by another connection (a running follow of this pipeline: stop it first; see pg_stat_replication)", ErrSlotBusy, slot)
	}
	var done []string
	if st.exists {
		if _, err := pgclient.Query(ctx, conn, "SELECT pg_drop_replication_slot($1)", []byte(slot)); err != nil {
			return "", fmt.Errorf("drop replication slot %q: %w", slot, err)
		}
		done = append(done, fmt.Sprintf("dropped replication slot %q", slot))
	} else {
		done = append(done, fmt.Sprintf("replication slot %q did not exist", slot))
	}
	rows, err := pgclient.Query(ctx, conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", []byte(pub))
	if err != nil {
		return "", fmt.Errorf("find publication %q: %w", pub, err)
	}
	if len(rows) == 0 {
		return strings.Join(append(done, fmt.Sprintf("publication %q did not exist", pub)), ", "), nil
	}
	if err := pgclient.Exec(ctx, conn, "DROP PUBLICATION "+pgsql.Ident(pub)); err != nil {
		return "", fmt.Errorf("drop publication %q: %w", pub, err)
	}
	return strings.Join(append(done, fmt.Sprintf("dropped publication %q", pub)), ", "), nil
}

// CheckSlot reports a replication slot that is in use, or invalidated; a
// missing slot is fine (the next run creates it).
func CheckSlot(ctx context.Context, conn *pgclient.Conn, slot string) error {
	st, err := readSlot(ctx, conn, slot)
	if err != nil {
		return err
	}
	if st.walStatus == "lost" {
		return fmt.Errorf("%w: replication slot %q was invalidated (max_slot_wal_keep_size): drop it and re-snapshot", ErrSlotLost, slot)
	}
	return nil
}
