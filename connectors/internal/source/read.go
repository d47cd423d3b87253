// Package source reads PostgreSQL tables as Arrow batches: discovery of
// base tables, read planning (projection, keyset order, incremental cursor,
// partitions) and the streaming read itself.
package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
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

// FastBatch is an optional Batch extension: Decoder returns a function
// decoding binary values of type t straight into column i, or nil to use
// the generic decoder for that column.
type FastBatch interface {
	Decoder(i int, t *pgarrow.Type) func(src []byte) error
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
}

// Stats summarises a read.
type Stats struct {
	// Records and Bytes count what this attempt emitted.
	Records, Bytes uint64
	// Checkpoints counts the checkpoints sent.
	Checkpoints int
	// SQL is the data query (for logs; holds no values).
	SQL string
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
func Read(ctx context.Context, conn *pgconn.PgConn, req Request, sink Sink) (Stats, error) {
	var st Stats
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
	t, ok, err := pgcatalog.Lookup(ctx, conn, schema, req.Stream.Name)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fmt.Errorf("%w: %s.%s", ErrNotFound, schema, req.Stream.Name)
	}
	p, err := buildPlan(ctx, conn, t, &req.Stream, req.Resume)
	if err != nil {
		return st, err
	}
	st.SQL = p.sql
	st, err = run(ctx, conn, p, req, sink)
	st.SQL = p.sql
	if err != nil {
		return st, err
	}
	if err := pgclient.Exec(ctx, conn, "COMMIT"); err != nil {
		return st, fmt.Errorf("end snapshot: %w", err)
	}
	committed = true
	return st, nil
}

// run executes the plan and streams batches and checkpoints.
func run(ctx context.Context, conn *pgconn.PgConn, p *plan, req Request, sink Sink) (Stats, error) {
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

	var dec pgarrow.Decoder
	decode := make([]func([]byte) error, len(writers))
	fb, _ := b.(FastBatch)
	for i := range decode {
		if fb != nil {
			decode[i] = fb.Decoder(i, &types[i])
		}
		if decode[i] == nil {
			t, w := &types[i], writers[i]
			decode[i] = func(src []byte) error { return dec.Decode(t, w, src) }
		}
	}
	rr := conn.ExecParams(ctx, p.sql, vals, oids, formats, resultFormats)
	for rr.NextRow() {
		row := rr.Values()
		for i, d := range decode {
			if err := d(row[i]); err != nil {
				_, _ = rr.Close()
				return st, &DataError{Column: p.out[i].Name, Err: err}
			}
		}
		for i, k := range p.keys {
			if v := row[k.selIdx]; v != nil {
				lastKey[i] = append(lastKey[i][:0], v...)
			}
		}
		if b.Full() {
			if err := flush(); err != nil {
				_, _ = rr.Close()
				return st, err
			}
		}
	}
	if _, err := rr.Close(); err != nil {
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
