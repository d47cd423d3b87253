package dest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// PositionsTable records, per pipeline, the LSN of the last change stream
// checkpoint the destination committed, in the same transaction as the
// changes. Changes of transactions that committed before it are skipped,
// so a lost acknowledgement never applies a transaction twice.
const PositionsTable = "_rapidbyte_cdc_positions"

// SoftDeleteColumn is set instead of deleting the row under soft_delete.
const SoftDeleteColumn = "_rapidbyte_deleted_at"

// ChangeInput is the change stream being applied (sdk.BatchIterator).
type ChangeInput interface {
	// Next returns the next batch or io.EOF; the view is valid until the
	// next call.
	Next(ctx context.Context) (*batch.View, error)
	// Checkpoint returns the latest checkpoint carried by the batches
	// returned so far, or nil.
	Checkpoint() *abi.Checkpoint
	// Commit acknowledges that everything returned so far is durable.
	Commit() error
}

// ApplyRequest is one application of a change stream.
type ApplyRequest struct {
	// Schema is the destination schema; default "public".
	Schema string
	// Pipeline scopes the position.
	Pipeline string
	// SoftDelete sets SoftDeleteColumn instead of deleting rows.
	SoftDelete bool
	// NewColumn is the policy for source columns the destination table
	// lacks: "add" (default), "ignore" or "fail".
	NewColumn string
}

// ApplyStats summarises an application.
type ApplyStats struct {
	// Changes counts applied changes (snapshot rows included); Skipped
	// counts changes at or before the committed position.
	Changes, Skipped uint64
	Commits          int
}

// applier is the state of one Apply.
type applier struct {
	conn    *pgconn.PgConn
	req     ApplyRequest
	pos     int64 // committed position; -1 when none
	inTx    bool
	tables  map[string]*applyTable
	dirty   []*applyTable // tables with pending changes, in first-change order
	lastCP  *abi.Checkpoint
	stats   ApplyStats
	scratch []cdc.Value
}

// applyTable is a destination table and its pending changes.
type applyTable struct {
	source string
	target string // qualified
	cols   []cdc.Column
	skip   []bool // source columns the destination does not take (new_column: ignore)
	key    []int
	order  []string
	last   map[string]*pendingChange
	dirty  bool        // listed in applier.dirty
	oldKey []cdc.Value // the old key of the key change whose update comes next
}

type pendingChange struct {
	del  bool
	vals []cdc.Value
}

// Apply applies a change stream: per batch it merges each table's changes
// by key (the last change of a key wins; an unchanged TOASTed value takes
// the value of an earlier change of the batch, else the destination keeps
// its value), then upserts and deletes in bulk. It commits, with the
// checkpoint's LSN, exactly when a batch carries a checkpoint, which the
// source emits only at source commit boundaries.
func Apply(ctx context.Context, conn *pgconn.PgConn, req ApplyRequest, in ChangeInput) (ApplyStats, error) {
	if req.Schema == "" {
		req.Schema = "public"
	}
	a := &applier{conn: conn, req: req, tables: map[string]*applyTable{}, pos: -1}
	err := a.run(ctx, in)
	if err != nil && a.inTx && !conn.IsClosed() {
		_ = pgclient.Exec(context.WithoutCancel(ctx), conn, "ROLLBACK")
	}
	return a.stats, err
}

func (a *applier) positions() string { return pgsql.Qualified(a.req.Schema, PositionsTable) }

func (a *applier) run(ctx context.Context, in ChangeInput) error {
	err := ddl(ctx, a.conn, a.req.Schema, fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (pipeline text PRIMARY KEY, lsn bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		pgsql.Ident(a.req.Schema), a.positions()))
	if err != nil {
		return fmt.Errorf("create positions table: %w", err)
	}
	rows, err := pgclient.Query(ctx, a.conn, fmt.Sprintf("SELECT lsn FROM %s WHERE pipeline = $1", a.positions()), []byte(a.req.Pipeline))
	if err != nil {
		return fmt.Errorf("read committed position: %w", err)
	}
	if len(rows) == 1 {
		if a.pos, err = strconv.ParseInt(string(rows[0][0]), 10, 64); err != nil {
			return fmt.Errorf("read committed position: %w", err)
		}
	}
	for {
		v, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			if a.inTx {
				// Changes after the last checkpoint belong to a source
				// transaction the source did not finish: never commit them.
				a.inTx = false
				return pgclient.Exec(ctx, a.conn, "ROLLBACK")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := a.batch(ctx, v); err != nil {
			return err
		}
		if cp := in.Checkpoint(); cp != nil && cp != a.lastCP {
			a.lastCP = cp
			if err := a.commit(ctx, cp); err != nil {
				return err
			}
			if err := in.Commit(); err != nil {
				return err
			}
		}
	}
}

func (a *applier) begin(ctx context.Context) error {
	if a.inTx {
		return nil
	}
	if err := pgclient.Exec(ctx, a.conn, "BEGIN"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	a.inTx = true
	return nil
}

// commit records cp's LSN and commits.
func (a *applier) commit(ctx context.Context, cp *abi.Checkpoint) error {
	if cp.CursorValue == nil || cp.CursorValue.String == nil {
		return fmt.Errorf("%w: change stream checkpoint without an LSN", ErrConfig)
	}
	lsn, err := pglogrepl.ParseLSN(*cp.CursorValue.String)
	if err != nil {
		return fmt.Errorf("%w: checkpoint LSN: %v", ErrConfig, err)
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	_, err = pgclient.Query(ctx, a.conn, fmt.Sprintf(`INSERT INTO %s (pipeline, lsn) VALUES ($1, $2)
ON CONFLICT (pipeline) DO UPDATE SET lsn = EXCLUDED.lsn, updated_at = now()`, a.positions()),
		[]byte(a.req.Pipeline), []byte(strconv.FormatInt(int64(lsn), 10)))
	if err != nil {
		return fmt.Errorf("record position: %w", err)
	}
	if err := pgclient.Exec(ctx, a.conn, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	a.inTx = false
	a.pos = int64(lsn)
	a.stats.Commits++
	return nil
}

// batch applies one batch inside the open transaction.
func (a *applier) batch(ctx context.Context, v *batch.View) error {
	if v.NumColumns() != len(cdc.Fields) {
		return fmt.Errorf("%w: a change stream batch has %d columns, want %d", ErrConfig, v.NumColumns(), len(cdc.Fields))
	}
	tcol, ocol, lcol, ucol := v.Column(cdc.ColTable), v.Column(cdc.ColOp), v.Column(cdc.ColLSN), v.Column(cdc.ColTuple)
	for i := 0; i < v.Rows(); i++ {
		name, op, lsn := tcol.Bytes(i), ocol.Bytes(i), lcol.Int64(i)
		if len(op) != 1 {
			return fmt.Errorf("%w: bad change op %q", ErrConfig, op)
		}
		switch op[0] {
		case cdc.OpSchema[0]:
			if err := a.flush(ctx); err != nil {
				return err
			}
			s, err := cdc.DecodeSchema(ucol.Bytes(i))
			if err != nil {
				return err
			}
			if err := a.schema(ctx, string(name), s); err != nil {
				return err
			}
			continue
		case cdc.OpSnapshot[0]:
		default:
			if lsn < a.pos {
				a.stats.Skipped++
				continue
			}
		}
		t := a.tables[string(name)]
		if t == nil {
			return fmt.Errorf("%w: change for table %s before its schema", ErrConfig, name)
		}
		if op[0] == cdc.OpTruncate[0] {
			if err := a.flush(ctx); err != nil {
				return err
			}
			if err := a.exec(ctx, "TRUNCATE "+t.target); err != nil {
				return fmt.Errorf("truncate %s: %w", t.target, err)
			}
			continue
		}
		vals, err := cdc.DecodeTuple(ucol.Bytes(i), a.scratch)
		if err != nil {
			return err
		}
		a.scratch = vals
		if len(vals) != len(t.cols) {
			return fmt.Errorf("%w: change for %s has %d values, its schema %d columns", ErrConfig, name, len(vals), len(t.cols))
		}
		switch {
		case op[0] == cdc.OpRekey[0]:
			t.oldKey = make([]cdc.Value, len(vals))
			for j, v := range vals {
				t.oldKey[j] = cdc.Value{Kind: v.Kind, Data: append([]byte(nil), v.Data...)}
			}
			continue
		case t.oldKey != nil:
			// A key change: move the row to its new key in place, so the
			// values the update leaves unchanged (TOAST) stay.
			if err := a.flush(ctx); err != nil {
				return err
			}
			if err := a.rekey(ctx, t, t.oldKey, vals); err != nil {
				return err
			}
			t.oldKey = nil
		}
		t.add(op[0] == cdc.OpDelete[0], vals)
		if !t.dirty {
			t.dirty = true
			a.dirty = append(a.dirty, t)
		}
		a.stats.Changes++
	}
	return a.flush(ctx)
}

func (a *applier) exec(ctx context.Context, sql string) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	return pgclient.Exec(ctx, a.conn, sql)
}

// add records a change of t under its key.
func (t *applyTable) add(del bool, vals []cdc.Value) {
	var kb strings.Builder
	for _, k := range t.key {
		v := vals[k]
		kb.WriteByte(v.Kind)
		kb.WriteString(strconv.Itoa(len(v.Data)))
		kb.WriteByte(':')
		kb.Write(v.Data)
	}
	key := kb.String()
	c := &pendingChange{del: del, vals: make([]cdc.Value, len(vals))}
	copy(c.vals, vals)
	prev, seen := t.last[key]
	if !seen {
		t.order = append(t.order, key)
	} else if !del && !prev.del {
		for i := range c.vals {
			if c.vals[i].Kind == cdc.KindUnchanged {
				c.vals[i] = prev.vals[i]
			}
		}
	}
	t.last[key] = c
}

// schema creates or evolves the destination table of a source table.
func (a *applier) schema(ctx context.Context, source string, s cdc.TableSchema) error {
	_, name := cdc.SplitTable(source, "")
	// Type names are pasted into SQL: anything but a plain type name
	// becomes text (values arrive in text form either way).
	for i := range s.Columns {
		if !typeName.MatchString(s.Columns[i].Type) {
			s.Columns[i].Type = "text"
		}
	}
	t := &applyTable{source: source, target: pgsql.Qualified(a.req.Schema, name), cols: s.Columns, last: map[string]*pendingChange{}}
	t.skip = make([]bool, len(s.Columns))
	for _, k := range s.Key {
		i := -1
		for j, c := range s.Columns {
			if c.Name == k {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("%w: key column %q of %s not among its columns", ErrConfig, k, source)
		}
		t.key = append(t.key, i)
	}
	if len(t.key) == 0 {
		return fmt.Errorf("%w: CDC of table %s needs a primary key (source-defined, or destination.primary_key)", ErrConfig, source)
	}
	rows, err := pgclient.Query(ctx, a.conn, `SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, []byte(t.target))
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t.target, err)
	}
	if len(rows) == 0 {
		defs := make([]string, 0, len(s.Columns)+2)
		for _, c := range s.Columns {
			defs = append(defs, pgsql.Ident(c.Name)+" "+c.Type)
		}
		if a.req.SoftDelete {
			defs = append(defs, pgsql.Ident(SoftDeleteColumn)+" timestamptz")
		}
		defs = append(defs, "PRIMARY KEY ("+pgsql.Idents(s.Key)+")")
		if err := a.exec(ctx, fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE %s (%s)", pgsql.Ident(a.req.Schema), t.target, strings.Join(defs, ", "))); err != nil {
			return fmt.Errorf("create %s: %w", t.target, err)
		}
	} else {
		have := map[string]bool{}
		for _, r := range rows {
			have[string(r[0])] = true
		}
		for i, c := range s.Columns {
			if have[c.Name] {
				continue
			}
			switch a.req.NewColumn {
			case "ignore":
				t.skip[i] = true
			case "fail":
				return fmt.Errorf("%w: source table %s has a new column %q and schema_evolution.new_column is fail", ErrSchema, source, c.Name)
			default:
				if err := a.exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.target, pgsql.Ident(c.Name), c.Type)); err != nil {
					return fmt.Errorf("add column %q to %s: %w", c.Name, t.target, err)
				}
			}
		}
		if a.req.SoftDelete && !have[SoftDeleteColumn] {
			if err := a.exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s timestamptz", t.target, pgsql.Ident(SoftDeleteColumn))); err != nil {
				return fmt.Errorf("add column %q to %s: %w", SoftDeleteColumn, t.target, err)
			}
		}
	}
	if s.Truncate {
		if err := a.exec(ctx, "TRUNCATE "+t.target); err != nil {
			return fmt.Errorf("truncate %s before its snapshot: %w", t.target, err)
		}
	}
	a.tables[source] = t
	return nil
}

// flush applies every table's pending changes.
func (a *applier) flush(ctx context.Context) error {
	for _, t := range a.dirty {
		if err := a.flushTable(ctx, t); err != nil {
			return err
		}
		t.order, t.last, t.dirty = t.order[:0], map[string]*pendingChange{}, false
	}
	a.dirty = a.dirty[:0]
	return nil
}

func (a *applier) flushTable(ctx context.Context, t *applyTable) error {
	var dels []*pendingChange
	groups := map[string][]*pendingChange{} // by unchanged-column mask
	var masks []string
	for _, k := range t.order {
		c := t.last[k]
		if c.del {
			dels = append(dels, c)
			continue
		}
		mask := make([]byte, len(c.vals))
		for i, v := range c.vals {
			mask[i] = '0'
			if v.Kind == cdc.KindUnchanged || t.skip[i] {
				mask[i] = '1'
			}
		}
		m := string(mask)
		if _, ok := groups[m]; !ok {
			masks = append(masks, m)
		}
		groups[m] = append(groups[m], c)
	}
	if len(dels) > 0 {
		if err := a.deleteRows(ctx, t, dels); err != nil {
			return err
		}
	}
	for _, m := range masks {
		if err := a.upsertRows(ctx, t, m, groups[m]); err != nil {
			return err
		}
	}
	return nil
}

// unnest returns "unnest($1::text[], ...) AS k(c0, ...)" over cols and
// the array parameters.
func unnest(cs []*pendingChange, cols []int) (string, [][]byte) {
	ph := make([]string, len(cols))
	alias := make([]string, len(cols))
	params := make([][]byte, len(cols))
	for j, ci := range cols {
		ph[j] = "$" + strconv.Itoa(j+1) + "::text[]"
		alias[j] = "c" + strconv.Itoa(ci)
		params[j] = textArray(cs, ci)
	}
	return "unnest(" + strings.Join(ph, ", ") + ") AS k(" + strings.Join(alias, ", ") + ")", params
}

// textArray encodes column ci of cs as a text[] literal.
func textArray(cs []*pendingChange, ci int) []byte {
	b := []byte{'{'}
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		v := c.vals[ci]
		if v.Kind != cdc.KindText {
			b = append(b, "NULL"...)
			continue
		}
		b = append(b, '"')
		for _, ch := range v.Data {
			if ch == '"' || ch == '\\' {
				b = append(b, '\\')
			}
			b = append(b, ch)
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

func (a *applier) keyMatch(t *applyTable) string {
	conds := make([]string, len(t.key))
	for j, ci := range t.key {
		conds[j] = fmt.Sprintf("t.%s = k.c%d::%s", pgsql.Ident(t.cols[ci].Name), ci, t.cols[ci].Type)
	}
	return strings.Join(conds, " AND ")
}

func (a *applier) deleteRows(ctx context.Context, t *applyTable, cs []*pendingChange) error {
	from, params := unnest(cs, t.key)
	sql := fmt.Sprintf("DELETE FROM %s AS t USING %s WHERE %s", t.target, from, a.keyMatch(t))
	if a.req.SoftDelete {
		sql = fmt.Sprintf("UPDATE %s AS t SET %s = now() FROM %s WHERE %s", t.target, pgsql.Ident(SoftDeleteColumn), from, a.keyMatch(t))
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	if _, err := pgclient.Query(ctx, a.conn, sql, params...); err != nil {
		return fmt.Errorf("apply deletes to %s: %w", t.target, err)
	}
	return nil
}

func (a *applier) upsertRows(ctx context.Context, t *applyTable, mask string, cs []*pendingChange) error {
	var cols []int
	for i := range t.cols {
		if mask[i] == '0' {
			cols = append(cols, i)
		}
	}
	from, params := unnest(cs, cols)
	names := make([]string, 0, len(cols)+1)
	exprs := make([]string, 0, len(cols)+1)
	var sets []string
	for _, ci := range cols {
		c := t.cols[ci]
		names = append(names, pgsql.Ident(c.Name))
		exprs = append(exprs, fmt.Sprintf("k.c%d::%s", ci, c.Type))
		isKey := false
		for _, k := range t.key {
			isKey = isKey || k == ci
		}
		if !isKey {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%s", pgsql.Ident(c.Name), pgsql.Ident(c.Name)))
		}
	}
	if a.req.SoftDelete {
		names = append(names, pgsql.Ident(SoftDeleteColumn))
		exprs = append(exprs, "NULL")
		sets = append(sets, fmt.Sprintf("%s = NULL", pgsql.Ident(SoftDeleteColumn)))
	}
	keyNames := make([]string, len(t.key))
	for j, ci := range t.key {
		keyNames[j] = t.cols[ci].Name
	}
	action := "NOTHING"
	if len(sets) > 0 {
		action = "UPDATE SET " + strings.Join(sets, ", ")
	}
	sql := fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM %s ON CONFLICT (%s) DO %s",
		t.target, strings.Join(names, ", "), strings.Join(exprs, ", "), from, pgsql.Idents(keyNames), action)
	if err := a.begin(ctx); err != nil {
		return err
	}
	if _, err := pgclient.Query(ctx, a.conn, sql, params...); err != nil {
		return fmt.Errorf("apply upserts to %s: %w", t.target, err)
	}
	return nil
}

// rekey moves the destination row of key old to the key of cur.
func (a *applier) rekey(ctx context.Context, t *applyTable, old, cur []cdc.Value) error {
	sets := make([]string, len(t.key))
	conds := make([]string, len(t.key))
	params := make([][]byte, 0, 2*len(t.key))
	for j, ci := range t.key {
		c := t.cols[ci]
		sets[j] = fmt.Sprintf("%s = $%d::%s", pgsql.Ident(c.Name), j+1, c.Type)
		conds[j] = fmt.Sprintf("%s = $%d::%s", pgsql.Ident(c.Name), len(t.key)+j+1, c.Type)
		params = append(params, cur[ci].Data)
	}
	for _, ci := range t.key {
		params = append(params, old[ci].Data)
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	sql := fmt.Sprintf("UPDATE %s SET %s WHERE %s", t.target, strings.Join(sets, ", "), strings.Join(conds, " AND "))
	if _, err := pgclient.Query(ctx, a.conn, sql, params...); err != nil {
		return fmt.Errorf("apply a key change to %s: %w", t.target, err)
	}
	return nil
}
