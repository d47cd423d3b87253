// Package source reads PostgreSQL tables as Arrow batches: discovery of
// base tables, read planning (projection, keyset order, incremental cursor,
// partitions) and the streaming read itself.
package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ErrNotFound is wrapped when the stream's table does not exist.
var ErrNotFound = errors.New("table not found")

// Batch is the column buffers of the batch being filled.
type Batch interface {
	// Writer returns the writer of emitted column i.
	Writer(i int) pgarrow.Writer
	// Rows returns the number of rows in the batch.
	Rows() int
	// Full reports that the batch reached its row or byte bound.
	Full() bool
	// ByteSize returns the bytes the batch holds.
	ByteSize() int
}

// RowBatch is an optional Batch extension that decodes many rows per call,
// which a wasm guest runs several times faster than a call per value.
type RowBatch interface {
	// PrepareRows is called once with the emitted columns' types, before
	// the first AppendRows.
	PrepareRows(types []pgarrow.Type) error
	// AppendRows decodes the leading rows (each its fields, see
	// pgclient.StreamRows) that fit the batch and returns how many; fewer
	// than len(rows) means the batch is full, and an empty batch takes at
	// least one. On error it reports the failing column.
	AppendRows(rows [][]byte) (n, col int, err error)
}

// Sink receives one stream.
type Sink interface {
	// Schema declares the stream's fields once and returns the batch to fill.
	Schema(ctx context.Context, fields []abi.Field) (Batch, error)
	// Emit hands the filled batch over and empties it.
	Emit(ctx context.Context) error
	// Checkpoint reports that everything emitted so far is covered by cp.
	Checkpoint(ctx context.Context, cp abi.Checkpoint) error
}

// Request is one read.
type Request struct {
	// Schema is the table's schema when the stream has no namespace.
	Schema string
	// Stream is the stream to read.
	Stream abi.StreamSpec
	// Resume is the last acknowledged checkpoint, or nil.
	Resume *abi.Checkpoint
	// Order orders a full refresh without partitions ("" is OrderKey).
	Order Order
}

// Stats summarises a read.
type Stats struct {
	// Records and Bytes count what this attempt emitted.
	Records, Bytes uint64
	// Checkpoints counts the checkpoints sent.
	Checkpoints int
	// SQL is the data query (for logs; holds no values).
	SQL string
	// Query is the time from the start of Read until the query returned
	// its first rows (or ended without any); Fetch is the time from then
	// until the last batch was handed to the sink.
	Query, Fetch time.Duration

	firstRows time.Time // when the first rows arrived
}

// DataError is a value that could not be converted.
type DataError struct {
	// Column is the column name.
	Column string
	// Err is the conversion error.
	Err error
}

// Error implements error.
func (e *DataError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }

// Unwrap returns the conversion error.
func (e *DataError) Unwrap() error { return e.Err }

// Read streams one table (partition) to sink from one consistent snapshot.
func Read(ctx context.Context, conn *pgclient.Conn, req Request, sink Sink) (Stats, error) {
	var st Stats
	start := time.Now()
	schema := req.Stream.Namespace
	if schema == "" {
		schema = req.Schema
	}
	if schema == "" {
		schema = "public"
	}
	if err := pgclient.Exec(ctx, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return st, fmt.Errorf("begin snapshot: %w", err)
	}
	committed := false
	defer func() {
		if !committed && !conn.IsClosed() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = pgclient.Exec(rctx, conn, "ROLLBACK")
			cancel()
		}
	}()
	part := req.Stream.Partition
	if part != nil && part.Snapshot != "" {
		if err := importSnapshot(ctx, conn, part.Snapshot); err != nil {
			return st, err
		}
	}
	t, ok, err := pgcatalog.Lookup(ctx, conn, schema, req.Stream.Name)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fmt.Errorf("%w: %s.%s", ErrNotFound, schema, req.Stream.Name)
	}
	if part != nil && part.ExportSnapshot {
		return st, holdSnapshot(ctx, conn, t, req, sink)
	}
	p, err := buildPlan(ctx, conn, t, &req.Stream, req.Resume, req.Order)
	if err != nil {
		return st, err
	}
	if p.setup != "" {
		if err := pgclient.Exec(ctx, conn, p.setup); err != nil {
			return st, fmt.Errorf("prepare the scan: %w", err)
		}
	}
	st.SQL = p.sql
	st, err = run(ctx, conn, p, req, sink)
	st.SQL = p.sql
	if st.firstRows.IsZero() {
		st.Query = time.Since(start)
	} else {
		st.Query, st.Fetch = st.firstRows.Sub(start), time.Since(st.firstRows)
	}
	if err != nil {
		return st, err
	}
	if err := pgclient.Exec(ctx, conn, "COMMIT"); err != nil {
		return st, fmt.Errorf("end snapshot: %w", err)
	}
	committed = true
	return st, nil
}

// SnapshotCursor is the cursor_field of the checkpoint that carries an
// exported snapshot's id (abi.Partition.ExportSnapshot).
const SnapshotCursor = "snapshot"

// importSnapshot makes the open transaction read in the exported snapshot
// id. When the exporting transaction is gone (a partition retried after the
// stream's snapshot holder ended), the read falls back to a snapshot of its
// own: each key is still read once (partitions split by key), but this
// partition is not in the stream's snapshot.
func importSnapshot(ctx context.Context, conn *pgclient.Conn, id string) error {
	err := pgclient.Exec(ctx, conn, "SET TRANSACTION SNAPSHOT "+pgsql.Literal(id))
	var pgErr *pgclient.PgError
	if err == nil || !errors.As(err, &pgErr) {
		return err
	}
	if err := pgclient.Exec(ctx, conn, "ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("begin snapshot: %w", err)
	}
	return nil
}

// holdSnapshot exports the open transaction's snapshot, sends its id as
// the cursor value of a checkpoint (after the stream's schema), and keeps
// the transaction open until ctx ends, so that the stream's partitions can
// import it.
func holdSnapshot(ctx context.Context, conn *pgclient.Conn, t pgcatalog.Table, req Request, sink Sink) error {
	rows, err := pgclient.Query(ctx, conn, "SELECT pg_export_snapshot()")
	if err != nil {
		return fmt.Errorf("export snapshot: %w", err)
	}
	spec := req.Stream
	spec.Partition = nil
	p, err := buildPlan(ctx, conn, t, &spec, nil, OrderKey)
	if err != nil {
		return err
	}
	if _, err := sink.Schema(ctx, p.fields()); err != nil {
		return err
	}
	id := string(rows[0][0])
	cp := abi.Checkpoint{Stream: req.Stream.Name, CursorField: SnapshotCursor, CursorValue: &abi.CursorValue{String: &id}}
	if err := sink.Checkpoint(ctx, cp); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// run executes the plan and streams batches and checkpoints.
func run(ctx context.Context, conn *pgclient.Conn, p *plan, req Request, sink Sink) (Stats, error) {
	var st Stats
	b, err := sink.Schema(ctx, p.fields())
	if err != nil {
		return st, err
	}
	writers := make([]pgarrow.Writer, len(p.out))
	types := make([]pgarrow.Type, len(p.out))
	for i := range p.out {
		writers[i], types[i] = b.Writer(i), p.out[i].Type
	}
	vals := make([][]byte, len(p.params))
	oids := make([]uint32, len(p.params))
	formats := make([]int16, len(p.params))
	for i, prm := range p.params {
		vals[i], oids[i], formats[i] = prm.value, prm.oid, prm.format
	}
	nsel := len(p.out)
	for _, k := range p.keys {
		nsel = max(nsel, k.selIdx+1)
	}
	resultFormats := make([]int16, nsel)
	for i := range resultFormats {
		resultFormats[i] = 1
	}

	lim := req.Stream.Limits
	base := uint64(0)
	if req.Resume != nil {
		base = req.Resume.Records
	}
	cp := abi.Checkpoint{Stream: req.Stream.Name}
	if req.Stream.Partition != nil {
		cp.Partition = req.Stream.Partition.Index
	}
	if len(p.keys) > 0 {
		cp.CursorField = p.keys[0].name
		if len(p.keys) > 1 {
			cp.TieBreakerField = p.keys[1].name
		}
		if req.Resume != nil && req.Resume.CursorField == cp.CursorField {
			cp.CursorValue, cp.TieBreakerValue = req.Resume.CursorValue, req.Resume.TieBreakerValue
		}
	}
	lastKey := make([][]byte, len(p.keys))
	var sinceRows, sinceBytes uint64
	lastCP := time.Now()
	checkpoint := func() error {
		for i, k := range p.keys {
			if lastKey[i] == nil {
				continue
			}
			v, err := cursorValue(&k.col.Type, lastKey[i], k.ctid)
			if err != nil {
				return &DataError{Column: k.name, Err: err}
			}
			if i == 0 {
				cp.CursorValue = v
			} else {
				cp.TieBreakerValue = v
			}
		}
		cp.Records, cp.Bytes = base+st.Records, st.Bytes
		if err := sink.Checkpoint(ctx, cp); err != nil {
			return err
		}
		st.Checkpoints++
		sinceRows, sinceBytes, lastCP = 0, 0, time.Now()
		return nil
	}
	flush := func() error {
		n, size := uint64(b.Rows()), uint64(b.ByteSize())
		if n == 0 {
			return nil
		}
		if err := sink.Emit(ctx); err != nil {
			return err
		}
		st.Records += n
		st.Bytes += size
		sinceRows += n
		sinceBytes += size
		due := lim.CheckpointIntervalRows == 0 && lim.CheckpointIntervalBytes == 0 && lim.CheckpointIntervalSeconds == 0
		due = due || lim.CheckpointIntervalRows > 0 && sinceRows >= lim.CheckpointIntervalRows
		due = due || lim.CheckpointIntervalBytes > 0 && sinceBytes >= lim.CheckpointIntervalBytes
		due = due || lim.CheckpointIntervalSeconds > 0 && time.Since(lastCP) >= time.Duration(lim.CheckpointIntervalSeconds)*time.Second
		if due {
			return checkpoint()
		}
		return nil
	}

	rb, err := rowBatch(b, types, writers)
	if err != nil {
		return st, err
	}
	q := pgclient.Statement{SQL: p.sql, Params: vals, ParamOIDs: oids, ParamFormats: formats, ResultFormats: resultFormats}
	err = conn.StreamRows(ctx, q, func(rows [][]byte) error {
		if st.firstRows.IsZero() {
			st.firstRows = time.Now()
		}
		for len(rows) > 0 {
			n, col, err := rb.AppendRows(rows)
			switch {
			case err != nil:
				return &DataError{Column: p.out[col].Name, Err: err}
			case n == 0 && b.Rows() == 0:
				return fmt.Errorf("a row does not fit an empty batch")
			}
			if n > 0 {
				last := rows[n-1]
				for i, k := range p.keys {
					v, err := field(last, k.selIdx)
					if err != nil {
						return &DataError{Column: k.name, Err: err}
					}
					if v != nil {
						lastKey[i] = append(lastKey[i][:0], v...)
					}
				}
			}
			if rows = rows[n:]; len(rows) > 0 || b.Full() {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := flush(); err != nil {
		return st, err
	}
	if sinceRows > 0 || st.Checkpoints == 0 {
		if err := checkpoint(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// rowBatch returns b's own row decoder when it has one, else the generic
// decoder writing through the column writers.
func rowBatch(b Batch, types []pgarrow.Type, writers []pgarrow.Writer) (RowBatch, error) {
	rb, ok := b.(RowBatch)
	if !ok {
		rb = &writerRows{b: b, writers: writers}
	}
	if err := rb.PrepareRows(types); err != nil {
		return nil, err
	}
	return rb, nil
}

// writerRows decodes rows value by value into pgarrow.Writers.
type writerRows struct {
	b       Batch
	writers []pgarrow.Writer
	types   []pgarrow.Type
	dec     pgarrow.Decoder
}

// PrepareRows implements RowBatch.
func (w *writerRows) PrepareRows(types []pgarrow.Type) error {
	w.types = types
	return nil
}

// AppendRows implements RowBatch.
func (w *writerRows) AppendRows(rows [][]byte) (int, int, error) {
	for r, fields := range rows {
		if r > 0 && w.b.Full() {
			return r, 0, nil
		}
		for i, wr := range w.writers {
			v, rest, err := nextField(fields)
			if err != nil {
				return r, i, err
			}
			fields = rest
			if err := w.dec.Decode(&w.types[i], wr, v); err != nil {
				return r, i, err
			}
		}
	}
	return len(rows), 0, nil
}

// errRowFraming is wrapped when a row's fields are malformed.
var errRowFraming = errors.New("malformed row")

// nextField splits the first field off a row's fields: its value (nil for
// NULL) and the rest.
func nextField(fields []byte) (v, rest []byte, err error) {
	if len(fields) < 4 {
		return nil, nil, fmt.Errorf("%w: row ends before the field", errRowFraming)
	}
	n := int32(binary.BigEndian.Uint32(fields))
	fields = fields[4:]
	switch {
	case n == -1:
		return nil, fields, nil
	case n < 0 || int(n) > len(fields):
		return nil, nil, fmt.Errorf("%w: field length %d", errRowFraming, n)
	}
	return fields[:n:n], fields[n:], nil
}

// field returns field i of a row's fields (nil for NULL).
func field(fields []byte, i int) ([]byte, error) {
	for ; ; i-- {
		v, rest, err := nextField(fields)
		if err != nil || i == 0 {
			return v, err
		}
		fields = rest
	}
}
