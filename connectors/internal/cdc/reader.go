package cdc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// Request is one read of a change stream.
type Request struct {
	// Slot and Publication name the replication slot and publication.
	Slot, Publication string
	// Tables are the stream's tables, loaded with LoadTable.
	Tables []Table
	// Resume is the last persisted checkpoint; nil starts with a snapshot.
	Resume *abi.Checkpoint
	// CheckpointInterval is the longest time between two checkpoints
	// while changes flow; default 1s (followInterval for a follow read).
	CheckpointInterval time.Duration
	// CheckpointRows checkpoints (at the next commit) once this many
	// changes are pending; default 50,000.
	CheckpointRows int
	// Follow reads until Control asks the read to stop, instead of up to
	// the WAL end observed at the start (see follow.go).
	Follow bool
	// Control, for a follow read, returns what the coordinator last said:
	// the checkpoint it persisted (the slot is confirmed up to it) and
	// whether to stop. It is polled every controlEvery.
	Control func(ctx context.Context) (abi.FollowState, error)
}

// Stats summarises a read.
type Stats struct {
	Snapshot         bool
	Records, Commits uint64
	Checkpoints      int
	Start, End       pgrepl.LSN
}

// idlePoll is how long the reader waits for a message before it asks the
// server where its WAL sender stands.
const idlePoll = 200 * time.Millisecond

// statusEvery bounds the time between two standby status updates.
const statusEvery = 10 * time.Second

// reader is the state of one Read.
type reader struct {
	req      Request
	repl     *pgclient.Conn
	e        sdk.Emitter
	b        *batch.Builder
	tables   map[string]*Table // by qualified name
	rels     map[uint32]*Table // by relation id
	seen     map[*Table]bool   // tables whose Relation message arrived
	confirm  pgrepl.LSN        // the LSN confirmed to the slot: the resume position
	end      pgrepl.LSN        // the WAL end observed at the start
	txLSN    pgrepl.LSN        // the commit LSN of the open transaction
	inTx     bool
	lastEnd  pgrepl.LSN // the end of the last commit read
	pending  int        // rows since the last checkpoint
	lastCP   time.Time
	lastStat time.Time
	tuple    []byte
	vals     []Value
	vals2    []Value
	stats    Stats
	ctl      *pgclient.Conn
	follow   followState
	// flushWAL commits a transaction on the source, so that the WAL up to
	// its commit is flushed and the WAL sender can read past r.end; see
	// stream.
	flushWAL func(ctx context.Context) error
	flushed  bool // flushWAL ran in this read
}

// Read reads the change stream: on a fresh start it creates the slot,
// copies the tables in the slot's snapshot and continues with the changes
// after its consistent point; on a resume it streams from the resume LSN.
// It stops at the WAL end observed when it started, at a commit boundary.
// ctl is an ordinary connection for catalog queries; repl a replication
// connection (pgclient.ConnectReplication).
func Read(ctx context.Context, ctl, repl *pgclient.Conn, req Request, e sdk.Emitter) (Stats, error) {
	if req.CheckpointInterval <= 0 {
		req.CheckpointInterval = time.Second
		if req.Follow {
			req.CheckpointInterval = followInterval
		}
	}
	if req.CheckpointRows <= 0 {
		req.CheckpointRows = 50_000
	}
	r := &reader{req: req, repl: repl, ctl: ctl, e: e, tables: map[string]*Table{}, rels: map[uint32]*Table{}, seen: map[*Table]bool{}}
	r.flushWAL = func(ctx context.Context) error {
		_, err := pgclient.Query(ctx, ctl, "SELECT txid_current()")
		return err
	}
	for i := range req.Tables {
		r.tables[req.Tables[i].Qualified()] = &req.Tables[i]
	}
	var err error
	if r.b, err = e.Schema(Fields); err != nil {
		return r.stats, err
	}
	if err := EnsurePublication(ctx, ctl, req.Publication, req.Tables); err != nil {
		return r.stats, err
	}
	st, err := readSlot(ctx, ctl, req.Slot)
	if err != nil {
		return r.stats, err
	}
	if st.active {
		return r.stats, fmt.Errorf("%w: replication slot %q is in use by another connection (another run of this pipeline, or the backend of a failed attempt: see pg_stat_replication)", ErrSlotBusy, req.Slot)
	}
	var start pgrepl.LSN
	if req.Resume == nil {
		if st.exists {
			// No checkpoint was persisted: whatever the destination holds
			// is replaced by a fresh snapshot.
			if _, err := pgclient.Query(ctx, ctl, "SELECT pg_drop_replication_slot($1)", []byte(req.Slot)); err != nil {
				return r.stats, fmt.Errorf("drop stale replication slot %q: %w", req.Slot, err)
			}
		}
		if start, err = r.snapshot(ctx); err != nil {
			return r.stats, err
		}
	} else {
		if start, err = resumeLSN(req.Resume); err != nil {
			return r.stats, err
		}
		switch {
		case !st.exists:
			return r.stats, fmt.Errorf("%w: replication slot %q does not exist any more, so the changes since %s are gone: "+
				"re-snapshot: delete the pipeline's `_cdc` row from the state store's cursors table, then run it again", ErrSlotLost, req.Slot, start)
		case st.walStatus == "lost":
			return r.stats, fmt.Errorf("%w: replication slot %q was invalidated (max_slot_wal_keep_size removed WAL it needed): "+
				"re-snapshot: delete the pipeline's `_cdc` row from the state store's cursors table, then run it again", ErrSlotLost, req.Slot)
		}
		for i := range req.Tables {
			if err := r.emitSchema(&req.Tables[i], false, start); err != nil {
				return r.stats, err
			}
		}
	}
	r.confirm, r.lastEnd = start, start
	rows, err := pgclient.Query(ctx, ctl, "SELECT pg_current_wal_flush_lsn()::text")
	if err != nil {
		return r.stats, fmt.Errorf("read the WAL end: %w", err)
	}
	if r.end, err = pgrepl.ParseLSN(string(rows[0][0])); err != nil {
		return r.stats, fmt.Errorf("read the WAL end: %w", err)
	}
	if req.Follow {
		r.end = endless
	}
	r.follow.cpLSN = start
	r.stats.Start, r.stats.End = start, r.end
	if err := r.stream(ctx, start); err != nil {
		return r.stats, err
	}
	return r.stats, nil
}

func resumeLSN(cp *abi.Checkpoint) (pgrepl.LSN, error) {
	if cp.CursorField != CursorField || cp.CursorValue == nil || cp.CursorValue.String == nil {
		return 0, fmt.Errorf("%w: the resume checkpoint of the change stream has no LSN (cursor %q)", ErrConfig, cp.CursorField)
	}
	lsn, err := pgrepl.ParseLSN(*cp.CursorValue.String)
	if err != nil {
		return 0, fmt.Errorf("%w: resume LSN %q: %v", ErrConfig, *cp.CursorValue.String, err)
	}
	return lsn, nil
}

// snapshot creates the slot inside a REPEATABLE READ transaction that uses
// its snapshot, copies every table in it, and returns the consistent point.
func (r *reader) snapshot(ctx context.Context) (pgrepl.LSN, error) {
	r.stats.Snapshot = true
	if err := pgclient.Exec(ctx, r.repl, "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return 0, fmt.Errorf("begin snapshot: %w", err)
	}
	slot, err := pgclient.CreateLogicalSlot(ctx, r.repl, r.req.Slot, "pgoutput")
	if err != nil {
		return 0, fmt.Errorf("create replication slot %q: %w", r.req.Slot, err)
	}
	cp := slot.ConsistentPoint
	for i := range r.req.Tables {
		t := &r.req.Tables[i]
		if err := r.emitSchema(t, true, cp); err != nil {
			return 0, err
		}
		if err := r.copyTable(ctx, t, cp); err != nil {
			return 0, err
		}
	}
	if err := pgclient.Exec(ctx, r.repl, "COMMIT"); err != nil {
		return 0, fmt.Errorf("end snapshot: %w", err)
	}
	r.lastEnd = cp
	if err := r.checkpoint(cp); err != nil {
		return 0, err
	}
	return cp, nil
}

// copyTable emits every row of t in the snapshot as OpSnapshot rows.
func (r *reader) copyTable(ctx context.Context, t *Table, lsn pgrepl.LSN) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	err := pgclient.SimpleRows(ctx, r.repl, fmt.Sprintf("SELECT %s FROM %s", pgsql.Idents(names), pgsql.Qualified(t.Schema, t.Name)), func(values [][]byte) error {
		r.vals = r.vals[:0]
		for _, v := range values {
			if v == nil {
				r.vals = append(r.vals, Value{Kind: KindNull})
			} else {
				r.vals = append(r.vals, Value{Kind: KindText, Data: v})
			}
		}
		return r.row(t, OpSnapshot, lsn, r.vals)
	})
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", t.Qualified(), err)
	}
	return nil
}

func (r *reader) emitSchema(t *Table, truncate bool, lsn pgrepl.LSN) error {
	b, err := EncodeSchema(t.Payload(truncate))
	if err != nil {
		return err
	}
	return r.appendRow(t.Qualified(), OpSchema, lsn, b)
}

func (r *reader) row(t *Table, op string, lsn pgrepl.LSN, vals []Value) error {
	r.tuple = AppendTuple(r.tuple[:0], vals)
	return r.appendRow(t.Qualified(), op, lsn, r.tuple)
}

func (r *reader) appendRow(table, op string, lsn pgrepl.LSN, tuple []byte) error {
	r.b.Utf8(ColTable).AppendString(table)
	r.b.Utf8(ColOp).AppendString(op)
	r.b.Int64(ColLSN).Append(int64(lsn))
	r.b.Binary(ColTuple).AppendBytes(tuple)
	if op != OpSchema {
		r.stats.Records++
		r.pending++
	}
	if r.b.Full() {
		return r.e.Emit(r.b)
	}
	return nil
}

// checkpoint emits the pending rows and a checkpoint at lsn, which must be
// a commit boundary.
func (r *reader) checkpoint(lsn pgrepl.LSN) error {
	if err := r.e.Emit(r.b); err != nil {
		return err
	}
	s := lsn.String()
	cp := abi.Checkpoint{Stream: StreamName, CursorField: CursorField, CursorValue: &abi.CursorValue{String: &s}, Records: r.stats.Records}
	if r.req.Follow {
		cp.Log = r.logPosition(lsn)
	}
	if err := r.e.Checkpoint(cp); err != nil {
		return err
	}
	r.stats.Checkpoints++
	r.pending = 0
	r.lastCP = time.Now()
	r.follow.cpLSN = lsn
	return nil
}

// sendStatus confirms the resume position (never a later one: only a
// persisted checkpoint may move the slot) and optionally asks the server
// to answer with its position.
func (r *reader) sendStatus(reply bool) error {
	r.lastStat = time.Now()
	if err := pgclient.SendStandbyStatus(r.repl, r.confirm, reply); err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}

// stream reads changes from start to the end position.
func (r *reader) stream(ctx context.Context, start pgrepl.LSN) error {
	err := pgclient.StartLogicalReplication(ctx, r.repl, r.req.Slot, start,
		[]string{"proto_version '1'", "publication_names '" + r.req.Publication + "'"})
	if err != nil {
		return fmt.Errorf("start replication from slot %q at %s: %w", r.req.Slot, start, err)
	}
	if err := r.sendStatus(true); err != nil {
		return err
	}
	r.lastCP = time.Now()
	var idleAt pgrepl.LSN // the server position of the previous keepalive outside a transaction
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now() // one clock read per message: each is two host calls
		if r.req.Follow {
			if stop, err := r.control(ctx, now); err != nil || stop {
				return err
			}
		}
		if now.Sub(r.lastStat) > statusEvery {
			if err := r.sendStatus(false); err != nil {
				return err
			}
		}
		// A read deadline (not a context per message: a timer each) bounds
		// the wait; a timeout leaves the connection usable.
		if err := r.repl.Conn().SetReadDeadline(r.readDeadline(now)); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
		// No context per message (a watcher each would cost more than
		// decoding the message): the deadline above and the ctx check at
		// the top of the loop bound how long cancellation takes.
		msg, err := r.repl.Receive()
		if err != nil {
			if ctx.Err() == nil && pgclient.Timeout(err) {
				if r.req.Follow && !r.inTx && r.pending > 0 {
					// Caught up: commit what is pending now rather than
					// at the end of the checkpoint interval.
					r.follow.caughtUp = true
					if err := r.checkpoint(r.lastEnd); err != nil {
						return err
					}
				}
				if !r.inTx {
					if err := r.sendStatus(true); err != nil {
						return err
					}
				}
				continue
			}
			return fmt.Errorf("receive changes: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			switch m.Data[0] {
			case pgrepl.KeepaliveByteID:
				ka, err := pgrepl.ParseKeepalive(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse keepalive: %w", err)
				}
				if !r.inTx {
					// Everything before the server's sent position was sent:
					// at or past the end, the read is complete.
					stalled := ka.ServerWALEnd == idleAt
					idleAt = ka.ServerWALEnd
					switch {
					case r.req.Follow:
						if err := r.followIdle(ka.ServerWALEnd); err != nil {
							return err
						}
					case ka.ServerWALEnd >= r.end:
						return r.finish(max(r.lastEnd, ka.ServerWALEnd))
					case stalled && !r.flushed:
						// Only the position proves the end: keepalives that
						// repeat a position below it do not (the WAL sender
						// answers every status request it finds queued after a
						// long step with its one position). An idle sender
						// below the end waits for the rest of a record that
						// crosses the end, which may stay unflushed: flush the
						// WAL past the end.
						r.flushed = true
						if err := r.flushWAL(ctx); err != nil {
							return fmt.Errorf("flush the WAL past the end of the read at %s: %w", r.end, err)
						}
					}
				}
				if ka.ReplyRequested {
					if err := r.sendStatus(false); err != nil {
						return err
					}
				}
			case pgrepl.XLogDataByteID:
				xld, err := pgrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse WAL data: %w", err)
				}
				done, err := r.message(ctx, xld.WALData)
				if err != nil {
					return err
				}
				if done {
					return r.finish(r.lastEnd)
				}
			}
		default:
			return fmt.Errorf("replication stream: unexpected message %T", msg)
		}
	}
}

// finish checkpoints at lsn (a commit boundary at or after every change read).
func (r *reader) finish(lsn pgrepl.LSN) error {
	r.lastEnd = lsn
	return r.checkpoint(lsn)
}

// message handles one pgoutput message; done reports the end of the read.
func (r *reader) message(ctx context.Context, data []byte) (done bool, err error) {
	if len(data) > 0 {
		switch data[0] {
		case 'I', 'U', 'D':
			return false, r.rawChange(data)
		}
	}
	lm, err := pgrepl.Parse(data)
	if err != nil {
		return false, fmt.Errorf("parse pgoutput message: %w", err)
	}
	switch m := lm.(type) {
	case *pgrepl.Relation:
		return false, r.relation(ctx, m)
	case *pgrepl.Begin:
		r.inTx, r.txLSN = true, m.FinalLSN
	case *pgrepl.Commit:
		r.inTx = false
		r.stats.Commits++
		r.follow.commitTime, r.follow.caughtUp = m.CommitTime, false
		r.lastEnd = m.TransactionEndLSN
		if m.TransactionEndLSN >= r.end || r.follow.stop {
			return true, nil
		}
		if r.pending >= r.req.CheckpointRows || r.pending > 0 && time.Since(r.lastCP) >= r.req.CheckpointInterval {
			return false, r.checkpoint(m.TransactionEndLSN)
		}
	case *pgrepl.Truncate:
		for _, id := range m.RelationIDs {
			if t := r.rels[id]; t != nil {
				if err := r.row(t, OpTruncate, r.txLSN, nil); err != nil {
					return false, err
				}
			}
		}
	}
	return false, nil
}

// rawChange passes an Insert, Update or Delete message's tuples on as
// they are: the envelope's tuple layout is pgoutput's TupleData.
func (r *reader) rawChange(data []byte) error {
	bad := func(what string) error { return fmt.Errorf("parse pgoutput %c message: %s", data[0], what) }
	if len(data) < 6 {
		return bad("too short")
	}
	t := r.rels[binary.BigEndian.Uint32(data[1:5])]
	if t == nil {
		return nil
	}
	p := 5
	switch data[0] {
	case 'I':
		if data[p] != 'N' {
			return bad("no new tuple")
		}
		return r.appendRow(t.Qualified(), OpInsert, r.txLSN, data[p+1:])
	case 'D':
		if data[p] != 'K' && data[p] != 'O' {
			return bad("no old tuple")
		}
		return r.appendRow(t.Qualified(), OpDelete, r.txLSN, data[p+1:])
	}
	var old []byte
	if data[p] == 'K' || data[p] == 'O' {
		var n int
		var err error
		if r.vals, n, err = decodeTuple(data[p+1:], r.vals); err != nil {
			return bad(err.Error())
		}
		old = data[p+1 : p+1+n]
		p += 1 + n
	}
	if p >= len(data) || data[p] != 'N' {
		return bad("no new tuple")
	}
	cur := data[p+1:]
	if old != nil {
		changed, err := r.keyChanged(t, cur)
		if err != nil {
			return bad(err.Error())
		}
		if changed {
			if err := r.appendRow(t.Qualified(), OpRekey, r.txLSN, old); err != nil {
				return err
			}
		}
	}
	return r.appendRow(t.Qualified(), OpUpdate, r.txLSN, cur)
}

// keyChanged reports whether the new tuple's key differs from the old
// tuple's, which r.vals holds.
func (r *reader) keyChanged(t *Table, cur []byte) (bool, error) {
	vals, err := DecodeTuple(cur, r.vals2)
	if err != nil {
		return false, err
	}
	r.vals2 = vals
	for _, k := range t.Key {
		i := t.column(k)
		if i >= len(r.vals) || i >= len(vals) {
			return true, nil
		}
		o, n := r.vals[i], vals[i]
		if o.Kind == KindUnchanged || n.Kind == KindUnchanged {
			continue
		}
		if o.Kind != n.Kind || string(o.Data) != string(n.Data) {
			return true, nil
		}
	}
	return false, nil
}

// relation maps a relation id to its table and follows schema changes: a
// new column is sent to the destination (its new_column policy decides);
// any other change fails the stream.
func (r *reader) relation(ctx context.Context, m *pgrepl.Relation) error {
	t := r.tables[m.Namespace+"."+m.Name]
	if t == nil {
		return nil // a table of the publication that this pipeline does not sync
	}
	r.rels[m.RelationID] = t
	n := len(t.Columns)
	shared := min(n, len(m.Columns))
	for i := 0; i < shared; i++ {
		c := m.Columns[i]
		if c.Name != t.Columns[i].Name || c.DataType != t.typeOIDs[i] || c.TypeModifier != t.typeMods[i] {
			return fmt.Errorf("%w: column %q of table %s was renamed, dropped or changed type (now %q); CDC follows only added columns: re-snapshot the table",
				ErrSchema, t.Columns[i].Name, t.Qualified(), c.Name)
		}
	}
	if len(m.Columns) < n {
		if r.seen[t] {
			return fmt.Errorf("%w: table %s lost columns (%d now, %d before); CDC follows only added columns: re-snapshot the table", ErrSchema, t.Qualified(), len(m.Columns), n)
		}
		// Changes from before a column was added (the catalog read at the
		// start is ahead of them): follow the shape they were written in.
		t.Columns, t.typeOIDs, t.typeMods = t.Columns[:len(m.Columns)], t.typeOIDs[:len(m.Columns)], t.typeMods[:len(m.Columns)]
		r.seen[t] = true
		return r.emitSchema(t, false, r.txLSN)
	}
	r.seen[t] = true
	if len(m.Columns) == n {
		return nil
	}
	for _, c := range m.Columns[n:] {
		rows, err := pgclient.Query(ctx, r.ctl, "SELECT format_type($1::oid, $2::int)", []byte(fmt.Sprint(c.DataType)), []byte(fmt.Sprint(c.TypeModifier)))
		if err != nil {
			return fmt.Errorf("type of new column %q of %s: %w", c.Name, t.Qualified(), err)
		}
		t.Columns = append(t.Columns, Column{Name: c.Name, Type: string(rows[0][0])})
		t.typeOIDs = append(t.typeOIDs, c.DataType)
		t.typeMods = append(t.typeMods, c.TypeModifier)
	}
	return r.emitSchema(t, false, r.txLSN)
}

// IsSlotLost reports whether err says the slot is gone.
func IsSlotLost(err error) bool { return errors.Is(err, ErrSlotLost) }

// SplitTable splits "schema.name" (default schema def).
func SplitTable(s, def string) (schema, name string) {
	if ns, n, ok := strings.Cut(s, "."); ok {
		return ns, n
	}
	if def == "" {
		def = "public"
	}
	return def, s
}
