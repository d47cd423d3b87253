package dest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// PositionsTable records, per pipeline, the LSN of the last change stream
// checkpoint the destination committed, in the same transaction as the
// changes. Changes of transactions that committed before it are skipped,
// so a lost acknowledgement never applies a transaction twice. Only a new
// snapshot moves it back: a retry that re-reads transactions the
// destination holds commits their checkpoints without lowering it.
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
	// Tables lists the change stream's source tables ("schema.name", or
	// a bare name in the source's default schema): see TargetName.
	Tables []string
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
	conn    *pgclient.Conn
	req     ApplyRequest
	pos     int64 // committed position; -1 when none
	inTx    bool
	restart bool // the open transaction takes a new snapshot: its position replaces pos
	tables  map[string]*applyTable
	dirty   []*applyTable // tables with pending changes, in first-change order
	lastCP  *abi.Checkpoint
	stats   ApplyStats
	scratch []cdc.Value
	arrays  [][]byte // the array parameters' buffers, reused by every statement
	merge   bool     // the server has MERGE (PostgreSQL 15+)
}

// applyTable is a destination table and its pending changes.
type applyTable struct {
	source string
	target string // qualified
	cols   []cdc.Column
	skip   []bool // source columns the destination does not take (new_column: ignore)
	key    []int
	// The pending changes, one per key in first-change order: idx maps
	// an encoded key to its index in pend, whose values live in vals
	// (len(cols) each). Values alias the batch being applied, which is
	// flushed before the next one is read. Reused across flushes, so a
	// change costs no allocation.
	idx    keyIndex
	pend   []pendingChange
	vals   []cdc.Value
	keyBuf []byte
	dirty  bool        // listed in applier.dirty
	oldKey []cdc.Value // the old key of the key change whose update comes next
}

type pendingChange struct {
	del bool
	off int32 // the change's values are vals[off : off+len(cols)]
}

// values returns the values of c.
func (t *applyTable) values(c pendingChange) []cdc.Value {
	return t.vals[c.off : int(c.off)+len(t.cols) : int(c.off)+len(t.cols)]
}

// reset forgets the pending changes, keeping their memory.
func (t *applyTable) reset() {
	t.idx.reset()
	t.pend, t.vals, t.dirty = t.pend[:0], t.vals[:0], false
}

// Apply applies a change stream: per batch it merges each table's changes
// by key (the last change of a key wins; an unchanged TOASTed value takes
// the value of an earlier change of the batch, else the destination keeps
// its value), then upserts and deletes in bulk. It commits, with the
// checkpoint's LSN, exactly when a batch carries a checkpoint, which the
// source emits only at source commit boundaries.
func Apply(ctx context.Context, conn *pgclient.Conn, req ApplyRequest, in ChangeInput) (ApplyStats, error) {
	if req.Schema == "" {
		req.Schema = "public"
	}
	a := &applier{conn: conn, req: req, tables: map[string]*applyTable{}, pos: -1, merge: serverMajor(conn) >= 15}
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
	lsn, err := pgrepl.ParseLSN(*cp.CursorValue.String)
	if err != nil {
		return fmt.Errorf("%w: checkpoint LSN: %v", ErrConfig, err)
	}
	if err := a.begin(ctx); err != nil {
		return err
	}
	// A checkpoint before the committed position (a retry re-reads what a
	// lost acknowledgement left unconfirmed) keeps the position: lowered,
	// it would let the transactions between them be applied again.
	set := "GREATEST(p.lsn, EXCLUDED.lsn)"
	if a.restart {
		set = "EXCLUDED.lsn"
	}
	_, err = pgclient.Query(ctx, a.conn, fmt.Sprintf(`INSERT INTO %s AS p (pipeline, lsn) VALUES ($1, $2)
ON CONFLICT (pipeline) DO UPDATE SET lsn = %s, updated_at = now()`, a.positions(), set),
		[]byte(a.req.Pipeline), []byte(strconv.FormatInt(int64(lsn), 10)))
	if err != nil {
		return fmt.Errorf("record position: %w", err)
	}
	if err := pgclient.Exec(ctx, a.conn, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	a.inTx = false
	if a.restart || int64(lsn) > a.pos {
		a.pos = int64(lsn)
	}
	a.restart = false
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

// TargetName returns the destination table of a change stream's source
// table ("schema.name"): its name, or "schema_name" when another of the
// stream's tables has the same name in another schema, so a.t and b.t do
// not write one table.
func TargetName(source string, tables []string) string {
	schema, name := cdc.SplitTable(source, "")
	n := 0
	for _, t := range tables {
		if _, tn := cdc.SplitTable(t, ""); tn == name {
			n++
		}
	}
	if n > 1 {
		return schema + "_" + name
	}
	return name
}

// serverMajor returns the server's major version, 0 when unknown.
func serverMajor(conn *pgclient.Conn) int {
	v := conn.ParameterStatus("server_version")
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		v = v[:end]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// add records a change of t under its key: the net effect of a key's
// changes is its last change, where an unchanged TOASTed value of an
// update takes the value of the key's previous insert or update.
func (t *applyTable) add(del bool, vals []cdc.Value) {
	kb := t.keyBuf[:0]
	for _, k := range t.key {
		v := vals[k]
		kb = append(kb, v.Kind)
		kb = binary.BigEndian.AppendUint32(kb, uint32(len(v.Data)))
		kb = append(kb, v.Data...)
	}
	t.keyBuf = kb
	if i, seen := t.idx.get(kb, int32(len(t.pend))); seen {
		prev := &t.pend[i]
		pv := t.values(*prev)
		if !del && !prev.del {
			for j, v := range vals {
				if v.Kind != cdc.KindUnchanged {
					pv[j] = v
				}
			}
		} else {
			copy(pv, vals)
		}
		prev.del = del
		return
	}
	t.pend = append(t.pend, pendingChange{del: del, off: int32(len(t.vals))})
	t.vals = append(t.vals, vals...)
}

// schema creates or evolves the destination table of a source table.
func (a *applier) schema(ctx context.Context, source string, s cdc.TableSchema) error {
	name := TargetName(source, a.req.Tables)
	// Type names are pasted into SQL: anything but a plain type name
	// becomes text (values arrive in text form either way).
	for i := range s.Columns {
		if !validTypeName(s.Columns[i].Type) {
			s.Columns[i].Type = "text"
		}
	}
	t := &applyTable{source: source, target: pgsql.Qualified(a.req.Schema, name), cols: s.Columns}
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
		a.restart = true
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
		t.reset()
	}
	a.dirty = a.dirty[:0]
	return nil
}

func (a *applier) flushTable(ctx context.Context, t *applyTable) error {
	// Changes are grouped by the set of columns they leave unchanged
	// (TOAST, or skipped under new_column: ignore): each group is one
	// statement that writes only its columns. Deletes join the group
	// that writes every column, the common case.
	var base, dels []pendingChange
	var groups map[string][]pendingChange
	var masks []string
	skipped := false
	for _, sk := range t.skip {
		skipped = skipped || sk
	}
	mask := make([]byte, len(t.cols))
	for _, c := range t.pend {
		if c.del {
			dels = append(dels, c)
			continue
		}
		vals := t.values(c)
		partial := skipped
		for _, v := range vals {
			partial = partial || v.Kind == cdc.KindUnchanged
		}
		if !partial {
			base = append(base, c)
			continue
		}
		for i, v := range vals {
			mask[i] = '0'
			if v.Kind == cdc.KindUnchanged || t.skip[i] {
				mask[i] = '1'
			}
		}
		g, ok := groups[string(mask)]
		if !ok {
			if groups == nil {
				groups = map[string][]pendingChange{}
			}
			masks = append(masks, string(mask))
		}
		groups[string(mask)] = append(g, c)
	}
	if a.merge {
		if len(base) > 0 || len(dels) > 0 {
			if err := a.mergeRows(ctx, t, nil, base, dels); err != nil {
				return err
			}
		}
		for _, m := range masks {
			if err := a.mergeRows(ctx, t, []byte(m), groups[m], nil); err != nil {
				return err
			}
		}
		return nil
	}
	if len(dels) > 0 {
		if err := a.deleteRows(ctx, t, dels); err != nil {
			return err
		}
	}
	if len(base) > 0 {
		if err := a.upsertRows(ctx, t, nil, base); err != nil {
			return err
		}
	}
	for _, m := range masks {
		if err := a.upsertRows(ctx, t, []byte(m), groups[m]); err != nil {
			return err
		}
	}
	return nil
}

// writes returns the columns a group with the unchanged-column mask
// writes (every column when mask is nil).
func (t *applyTable) writes(mask []byte) []int {
	cols := make([]int, 0, len(t.cols))
	for i := range t.cols {
		if mask == nil || mask[i] == '0' {
			cols = append(cols, i)
		}
	}
	return cols
}

// isKey reports whether column ci is a key column.
func (t *applyTable) isKey(ci int) bool {
	for _, k := range t.key {
		if k == ci {
			return true
		}
	}
	return false
}

// Array parameters travel in PostgreSQL's binary array format: no
// quoting on the way out, no array_in parsing on the server.
const (
	oidBool      = 16
	oidText      = 25
	oidBoolArray = 1000
	oidTextArray = 1009
)

// params are the parameters of one apply statement.
type params struct {
	vals    [][]byte
	oids    []uint32
	formats []int16
}

func (p *params) add(oid uint32, v []byte) string {
	p.vals, p.oids, p.formats = append(p.vals, v), append(p.oids, oid), append(p.formats, 1)
	return "$" + strconv.Itoa(len(p.vals))
}

// unnest returns "unnest((SELECT $1), ...) AS k(c0, ...)" over cols of the
// changes cs, then dels (key columns only), and the array parameters. With
// flag, a last boolean column d marks the deletes.
//
// The sub-selects hide the arrays' lengths from the planner, which then
// joins k to the table by its key index (a nested loop): knowing that k
// holds thousands of rows it hashes the whole table instead, a scan per
// flush that grows with the table, not with the changes.
//
// The arrays are built in bufs (grown as needed), whose memory the
// statement's parameters alias: they are valid until the next unnest.
func (t *applyTable) unnest(bufs *[][]byte, cs, dels []pendingChange, cols []int, flag bool) (string, params) {
	n := len(cols)
	if flag {
		n++
	}
	for len(*bufs) < len(cols) {
		*bufs = append(*bufs, nil)
	}
	var p params
	ph := make([]string, 0, n)
	alias := make([]string, 0, n)
	for j, ci := range cols {
		(*bufs)[j] = t.textArray((*bufs)[j][:0], cs, dels, ci)
		ph = append(ph, "(SELECT "+p.add(oidTextArray, (*bufs)[j])+")")
		alias = append(alias, "c"+strconv.Itoa(ci))
	}
	if flag {
		b := arrayHeader(nil, oidBool, len(cs)+len(dels), false)
		for i := range len(cs) + len(dels) {
			b = binary.BigEndian.AppendUint32(b, 1)
			if i < len(cs) {
				b = append(b, 0)
			} else {
				b = append(b, 1)
			}
		}
		ph = append(ph, "(SELECT "+p.add(oidBoolArray, b)+")")
		alias = append(alias, "d")
	}
	return "unnest(" + strings.Join(ph, ", ") + ") AS k(" + strings.Join(alias, ", ") + ")", p
}

// arrayHeader appends the header of a one-dimensional binary array of n
// elements of type elem.
func arrayHeader(b []byte, elem uint32, n int, nulls bool) []byte {
	flags := uint32(0)
	if nulls {
		flags = 1
	}
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, flags)
	b = binary.BigEndian.AppendUint32(b, elem)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1) // lower bound
}

// textArray appends column ci of cs, then of dels, to b as a binary
// text[] (NULL for a delete's non-key column).
func (t *applyTable) textArray(b []byte, cs, dels []pendingChange, ci int) []byte {
	size, nulls := 20, false
	for _, part := range [2][]pendingChange{cs, dels} {
		for _, c := range part {
			v := t.vals[int(c.off)+ci]
			size += 4 + len(v.Data)
			nulls = nulls || v.Kind != cdc.KindText
		}
	}
	b = slices.Grow(b, size)
	b = arrayHeader(b, oidText, len(cs)+len(dels), nulls)
	for _, part := range [2][]pendingChange{cs, dels} {
		for _, c := range part {
			v := t.vals[int(c.off)+ci]
			if v.Kind != cdc.KindText {
				b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF) // -1: NULL
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(v.Data)))
			b = append(b, v.Data...)
		}
	}
	return b
}

// execParams runs an apply statement in the open transaction.
func (a *applier) execParams(ctx context.Context, sql string, p params) error {
	if err := a.begin(ctx); err != nil {
		return err
	}
	return pgclient.ExecParams(ctx, a.conn, sql, p.vals, p.oids, p.formats)
}

func (t *applyTable) keyMatch() string {
	conds := make([]string, len(t.key))
	for j, ci := range t.key {
		conds[j] = fmt.Sprintf("t.%s = k.c%d::%s", pgsql.Ident(t.cols[ci].Name), ci, t.cols[ci].Type)
	}
	return strings.Join(conds, " AND ")
}

// columnLists returns, for the columns cols an upsert writes, their quoted
// names, their values in unnest's k ("k.c<i>::<type>") and the SET items
// of the non-key ones, set(name, value) each; the lists have room for one
// more item (the soft-delete column).
func (t *applyTable) columnLists(cols []int, set func(name, expr string) string) (names, exprs, sets []string) {
	names = make([]string, 0, len(cols)+1)
	exprs = make([]string, 0, len(cols)+1)
	for _, ci := range cols {
		c := t.cols[ci]
		name, expr := pgsql.Ident(c.Name), fmt.Sprintf("k.c%d::%s", ci, c.Type)
		names = append(names, name)
		exprs = append(exprs, expr)
		if !t.isKey(ci) {
			sets = append(sets, set(name, expr))
		}
	}
	return names, exprs, sets
}

// mergeRows applies the upserts cs, which write the columns mask leaves
// (every column when nil), and the deletes dels in one MERGE: no
// speculative insertion and no row lock, so a change costs the
// destination the WAL it cost the source.
func (a *applier) mergeRows(ctx context.Context, t *applyTable, mask []byte, cs, dels []pendingChange) error {
	cols := t.writes(mask)
	from, params := t.unnest(&a.arrays, cs, dels, cols, len(dels) > 0)
	names, exprs, sets := t.columnLists(cols, func(name, expr string) string { return name + " = " + expr })
	if a.req.SoftDelete {
		sets = append(sets, pgsql.Ident(SoftDeleteColumn)+" = NULL")
	}
	var sql strings.Builder
	fmt.Fprintf(&sql, "MERGE INTO %s AS t USING %s ON %s", t.target, from, t.keyMatch())
	upsert, insert := "WHEN MATCHED", "WHEN NOT MATCHED"
	if len(dels) > 0 {
		if a.req.SoftDelete {
			fmt.Fprintf(&sql, " WHEN MATCHED AND k.d THEN UPDATE SET %s = now()", pgsql.Ident(SoftDeleteColumn))
		} else {
			sql.WriteString(" WHEN MATCHED AND k.d THEN DELETE")
		}
		insert += " AND NOT k.d"
	}
	if len(sets) > 0 {
		fmt.Fprintf(&sql, " %s THEN UPDATE SET %s", upsert, strings.Join(sets, ", "))
	}
	if len(cs) > 0 {
		fmt.Fprintf(&sql, " %s THEN INSERT (%s) VALUES (%s)", insert, strings.Join(names, ", "), strings.Join(exprs, ", "))
	}
	if err := a.execParams(ctx, sql.String(), params); err != nil {
		return fmt.Errorf("apply changes to %s: %w", t.target, err)
	}
	return nil
}

// deleteRows deletes (or soft-deletes) the rows of dels, before
// PostgreSQL 15.
func (a *applier) deleteRows(ctx context.Context, t *applyTable, dels []pendingChange) error {
	from, params := t.unnest(&a.arrays, nil, dels, t.key, false)
	sql := fmt.Sprintf("DELETE FROM %s AS t USING %s WHERE %s", t.target, from, t.keyMatch())
	if a.req.SoftDelete {
		sql = fmt.Sprintf("UPDATE %s AS t SET %s = now() FROM %s WHERE %s", t.target, pgsql.Ident(SoftDeleteColumn), from, t.keyMatch())
	}
	if err := a.execParams(ctx, sql, params); err != nil {
		return fmt.Errorf("apply deletes to %s: %w", t.target, err)
	}
	return nil
}

// upsertRows upserts cs with INSERT ... ON CONFLICT, before PostgreSQL 15.
func (a *applier) upsertRows(ctx context.Context, t *applyTable, mask []byte, cs []pendingChange) error {
	cols := t.writes(mask)
	from, params := t.unnest(&a.arrays, cs, nil, cols, false)
	names, exprs, sets := t.columnLists(cols, func(name, _ string) string { return name + " = EXCLUDED." + name })
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
	if err := a.execParams(ctx, sql, params); err != nil {
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
