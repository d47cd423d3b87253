package source

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrConfig is wrapped by errors caused by the stream spec or config.
var ErrConfig = errors.New("invalid stream configuration")

// Sync modes.
const (
	ModeFullRefresh = "full_refresh"
	ModeIncremental = "incremental"
)

// key is an ordering column of a read: the incremental cursor, the
// tie-breaker, the primary key of a keyset full refresh, or ctid.
type key struct {
	name   string
	col    pgcatalog.Column
	ctid   bool
	selIdx int // position in the select list
}

// plan is a planned read of one stream (partition).
type plan struct {
	table  pgcatalog.Table
	out    []pgcatalog.Column // emitted columns, in order
	keys   []key              // ordering keys (0, 1 or 2)
	sql    string
	params []param
	// setup is SQL the read's transaction runs before sql, if any.
	setup string
}

// fields returns the Arrow fields of the emitted columns.
func (p *plan) fields() []abi.Field {
	f := make([]abi.Field, len(p.out))
	for i, c := range p.out {
		f[i] = abi.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: c.Nullable, SourceType: c.SourceType}
	}
	return f
}

// Order is how a full refresh without partitions orders its rows, and so
// what its checkpoints name.
type Order string

const (
	// OrderKey (the default) reads by the single-column primary key when
	// the table has one: a retry resumes after the last committed key,
	// each key once whatever changed in between. PostgreSQL reads such a
	// table through its index, which on a table larger than shared_buffers
	// pulls every page through the buffer pool.
	OrderKey Order = "key"
	// OrderPhysical reads every plain table as a keyless one, by a
	// sequential scan in physical (ctid) order: cheaper for the server and
	// kind to its cache, but a retry resumes at a ctid, exact only when the
	// table does not change during the run.
	OrderPhysical Order = "physical"
)

// ParseOrder validates a full_refresh_order value ("" is OrderKey).
func ParseOrder(s string) (Order, error) {
	switch Order(s) {
	case "", OrderKey:
		return OrderKey, nil
	case OrderPhysical:
		return OrderPhysical, nil
	}
	return "", fmt.Errorf("%w: full_refresh_order %q: want %q or %q", ErrConfig, s, OrderKey, OrderPhysical)
}

// split reports whether spec reads one partition of several.
func split(spec *abi.StreamSpec) bool {
	return spec.Partition != nil && spec.Partition.Count > 1
}

// ctidKey is the physical position of a plain table's rows.
func ctidKey() key {
	return key{name: ctidColumn, ctid: true, col: pgcatalog.Column{Name: ctidColumn}}
}

// keysetKey picks the full refresh keyset column: a single-column primary
// key of an ordered scalar type, else ctid for plain tables.
func keysetKey(t *pgcatalog.Table) (key, bool) {
	if len(t.PrimaryKey) == 1 {
		c, _, ok := t.Column(t.PrimaryKey[0])
		if ok && !c.Type.Cast {
			switch c.Type.Kind {
			case pgarrow.KindInt16, pgarrow.KindInt32, pgarrow.KindInt64, pgarrow.KindText, pgarrow.KindUUID,
				pgarrow.KindDate, pgarrow.KindTimestamp, pgarrow.KindTimestampTZ, pgarrow.KindDecimal128,
				pgarrow.KindDecimal256, pgarrow.KindNumericText:
				return key{name: c.Name, col: c}, true
			}
		}
	}
	if !t.Partitioned {
		return ctidKey(), true
	}
	return key{}, false
}

// buildPlan plans the read of spec from table t in order, resuming after
// resume. It may query min/max of the partition key (inside the caller's
// snapshot).
func buildPlan(ctx context.Context, conn *pgclient.Conn, t pgcatalog.Table, spec *abi.StreamSpec, resume *abi.Checkpoint, order Order) (*plan, error) {
	p := &plan{table: t}
	if len(spec.Columns) == 0 {
		p.out = t.Columns
	} else {
		for _, name := range spec.Columns {
			c, _, ok := t.Column(name)
			if !ok {
				return nil, fmt.Errorf("%w: column %q not found in %s.%s", ErrConfig, name, t.Schema, t.Name)
			}
			p.out = append(p.out, c)
		}
	}
	mode := spec.SyncMode
	if mode == "" {
		mode = ModeFullRefresh
	}
	switch mode {
	case ModeIncremental:
		if spec.CursorField == "" {
			return nil, fmt.Errorf("%w: incremental sync of %s needs cursor_field", ErrConfig, t.Name)
		}
		for _, name := range []string{spec.CursorField, spec.TieBreakerField} {
			if name == "" {
				continue
			}
			c, _, ok := t.Column(name)
			if !ok {
				return nil, fmt.Errorf("%w: cursor column %q not found in %s.%s", ErrConfig, name, t.Schema, t.Name)
			}
			if _, err := cursorValue(&c.Type, zeroRaw(c.Type), false); err != nil && c.Type.Kind != pgarrow.KindNumericText && c.Type.Kind != pgarrow.KindDecimal128 && c.Type.Kind != pgarrow.KindDecimal256 {
				return nil, fmt.Errorf("%w: column %q (%s) cannot be a cursor", ErrConfig, name, c.SourceType)
			}
			p.keys = append(p.keys, key{name: name, col: c})
		}
	case ModeFullRefresh:
		k, ok := keysetKey(&t)
		if order == OrderPhysical && !t.Partitioned && !split(spec) {
			k, ok = ctidKey(), true
		}
		if ok {
			p.keys = []key{k}
		}
	default:
		return nil, fmt.Errorf("%w: sync mode %q is not supported", ErrConfig, spec.SyncMode)
	}

	sel := make([]string, 0, len(p.out)+2)
	for _, c := range p.out {
		e := pgsql.Ident(c.Name)
		if c.Type.Cast {
			e += "::text"
		}
		sel = append(sel, e)
	}
	for i := range p.keys {
		k := &p.keys[i]
		if !k.ctid {
			if j := slices.IndexFunc(p.out, func(c pgcatalog.Column) bool { return c.Name == k.name }); j >= 0 {
				k.selIdx = j
				continue
			}
		}
		k.selIdx = len(sel)
		if k.ctid {
			sel = append(sel, "ctid")
		} else {
			sel = append(sel, pgsql.Ident(k.name))
		}
	}

	var conds []string
	if mode == ModeIncremental {
		conds = append(conds, pgsql.Ident(p.keys[0].name)+" IS NOT NULL")
	}
	if resume != nil && resume.CursorValue != nil && len(p.keys) > 0 && resume.CursorField == p.keys[0].name {
		c, err := p.afterCursor(resume)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if split(spec) {
		c, err := p.partitionCond(ctx, conn, spec.Partition)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	} else if len(p.keys) == 1 && p.keys[0].ctid && len(conds) == 0 {
		// A whole keyless table: a sequential scan returns its rows in
		// physical (ctid) order from the first block once synchronized and
		// parallel scans are off, and reads a table larger than a quarter of
		// shared_buffers through a small ring of buffers, where a TID range
		// scan (used before) evicts the server's cache and costs more: 1M
		// bench_events rows, 174 MB, 128 MB shared_buffers, 1.0 s against
		// 1.45 s for the COPY of the query.
		p.setup = "SET LOCAL synchronize_seqscans = off; SET LOCAL max_parallel_workers_per_gather = 0"
	}

	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(sel, ", "))
	b.WriteString(" FROM ")
	b.WriteString(pgsql.Qualified(t.Schema, t.Name))
	if len(conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(conds, " AND "))
	}
	if len(p.keys) > 0 && !p.keys[0].ctid {
		names := make([]string, len(p.keys))
		for i, k := range p.keys {
			names[i] = k.name
		}
		b.WriteString(" ORDER BY ")
		b.WriteString(pgsql.Idents(names))
	}
	p.sql = b.String()
	return p, nil
}

// zeroRaw returns a well-formed binary zero of t, to test cursor support.
func zeroRaw(t pgarrow.Type) []byte {
	switch t.Kind {
	case pgarrow.KindInt16:
		return make([]byte, 2)
	case pgarrow.KindInt32, pgarrow.KindDate, pgarrow.KindFloat32:
		return make([]byte, 4)
	case pgarrow.KindInt64, pgarrow.KindTimestamp, pgarrow.KindTimestampTZ, pgarrow.KindFloat64:
		return make([]byte, 8)
	case pgarrow.KindUUID:
		return make([]byte, 16)
	}
	return []byte{}
}

// afterCursor returns the condition "strictly after the resume cursor".
func (p *plan) afterCursor(resume *abi.Checkpoint) (string, error) {
	k0 := p.keys[0]
	v0, cast0, err := cursorParam(&k0.col.Type, k0.col.SourceType, resume.CursorValue, k0.ctid)
	if err != nil {
		return "", fmt.Errorf("%w: resume cursor of %q: %v", ErrConfig, k0.name, err)
	}
	ph0 := p.addParam(v0) + cast0
	if len(p.keys) == 2 && resume.TieBreakerValue != nil && resume.TieBreakerField == p.keys[1].name {
		k1 := p.keys[1]
		v1, cast1, err := cursorParam(&k1.col.Type, k1.col.SourceType, resume.TieBreakerValue, false)
		if err != nil {
			return "", fmt.Errorf("%w: resume tie-breaker of %q: %v", ErrConfig, k1.name, err)
		}
		ph1 := p.addParam(v1) + cast1
		return fmt.Sprintf("(%s, %s) > (%s, %s)", pgsql.Ident(k0.name), pgsql.Ident(k1.name), ph0, ph1), nil
	}
	col := pgsql.Ident(k0.name)
	if k0.ctid {
		col = "ctid"
	}
	return col + " > " + ph0, nil
}

func (p *plan) addParam(v param) string {
	p.params = append(p.params, v)
	return "$" + strconv.Itoa(len(p.params))
}

// partitionCond returns the condition selecting partition part.
//
// With an integer key (partition_key, else a single-column integer primary
// key) a row belongs to partition mod(key, count): that depends on the row
// alone, never on the snapshot, so partitions that read at different
// moments still take every row whose key does not change exactly once,
// whatever is inserted, updated or deleted meanwhile (NULL keys go to
// partition 0). Ranges between min and max were cheaper to scan (measured
// on 1M rows, 4 partitions in parallel: 2.98 s against 3.69 s), but each
// partition computed min and max in its own snapshot, so a concurrent
// insert or delete shifted the bounds between partitions: rows in a gap
// were lost, rows in an overlap copied twice.
//
// A keyless table is split into ctid block ranges, which an UPDATE during
// the copy defeats (the new row version may land in another partition's
// blocks: copied twice, or missed): documented in the connector README.
func (p *plan) partitionCond(ctx context.Context, conn *pgclient.Conn, part *abi.Partition) (string, error) {
	if part.Index >= part.Count {
		return "", fmt.Errorf("%w: partition index %d of %d", ErrConfig, part.Index, part.Count)
	}
	keyName := part.Key
	if keyName == "" && len(p.table.PrimaryKey) == 1 {
		if c, _, ok := p.table.Column(p.table.PrimaryKey[0]); ok && isInteger(c.Type.Kind) {
			keyName = c.Name
		}
	}
	if keyName == "" {
		return p.ctidRange(ctx, conn, part)
	}
	c, _, ok := p.table.Column(keyName)
	if !ok {
		return "", fmt.Errorf("%w: partition key %q not found", ErrConfig, keyName)
	}
	if !isInteger(c.Type.Kind) {
		return "", fmt.Errorf("%w: partition key %q must be an integer column, not %s", ErrConfig, keyName, c.SourceType)
	}
	// mod is negative for negative keys: -1 belongs to partition count-1.
	col := pgsql.Ident(c.Name)
	if part.Index == 0 {
		return fmt.Sprintf("(mod(%s, %d) = 0 OR %s IS NULL)", col, part.Count, col), nil
	}
	return fmt.Sprintf("mod(%s, %d) IN (%d, %d)", col, part.Count, part.Index, int64(part.Index)-int64(part.Count)), nil
}

func isInteger(k pgarrow.Kind) bool {
	return k == pgarrow.KindInt16 || k == pgarrow.KindInt32 || k == pgarrow.KindInt64
}

// ctidRange returns the ctid block range of partition part of a keyless
// table.
func (p *plan) ctidRange(ctx context.Context, conn *pgclient.Conn, part *abi.Partition) (string, error) {
	if p.table.Partitioned {
		return "", fmt.Errorf("%w: partitioned table %s needs a partition_key", ErrConfig, p.table.Name)
	}
	rows, err := pgclient.Query(ctx, conn,
		"SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::bigint)::text",
		[]byte(pgsql.Qualified(p.table.Schema, p.table.Name)))
	if err != nil {
		return "", fmt.Errorf("table size: %w", err)
	}
	blocks, _ := new(big.Int).SetString(string(rows[0][0]), 10)
	if blocks == nil {
		return "", fmt.Errorf("table size: bad value %q", rows[0][0])
	}
	cnt := big.NewInt(int64(part.Count))
	bound := func(i uint32) *big.Int { // blocks*i/cnt
		b := new(big.Int).Mul(blocks, big.NewInt(int64(i)))
		return b.Quo(b, cnt)
	}
	cond := fmt.Sprintf("ctid >= '(%s,0)'::tid", bound(part.Index))
	if part.Index == 0 {
		cond = "ctid >= '(0,0)'::tid"
	}
	if part.Index < part.Count-1 {
		cond += fmt.Sprintf(" AND ctid < '(%s,0)'::tid", bound(part.Index+1))
	}
	return cond, nil
}
