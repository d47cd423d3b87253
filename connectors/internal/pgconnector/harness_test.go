package pgconnector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// frames is a captured stream: one next_batch frame per emitted batch,
// with the checkpoint attached to the batch it follows.
type frames struct {
	fields []abi.Field
	schema *batch.Schema
	frames [][]byte
	cps    []*abi.Checkpoint
	rows   int
	bytes  int
	keep   bool // keep frames (false: count only, for measurements)
}

// emitter implements sdk.Emitter the way the host does: it copies each
// batch's buffers out into a frame.
type emitter struct {
	f       *frames
	b       *batch.Builder
	maxRows int
}

func (e *emitter) Schema(fields []abi.Field) (*batch.Builder, error) {
	s, err := batch.NewSchema(fields)
	if err != nil {
		return nil, err
	}
	e.f.fields, e.f.schema = fields, s
	e.b, err = batch.NewBuilder(s, e.maxRows, 0)
	return e.b, err
}

func (e *emitter) Emit(b *batch.Builder) error {
	if b.Rows() == 0 {
		return nil
	}
	err := b.Layout(func(rows int, nodes []batch.Node, bufs [][]byte) {
		e.f.rows += rows
		e.f.bytes += batch.FrameSize(nodes, bufs, nil)
		if e.f.keep {
			e.f.frames = append(e.f.frames, batch.EncodeFrame(nil, rows, nodes, bufs, nil))
			e.f.cps = append(e.f.cps, nil)
		}
	})
	b.Reset()
	return err
}

func (e *emitter) Checkpoint(cp abi.Checkpoint) error {
	if e.f.keep && len(e.f.frames) > 0 {
		e.f.cps[len(e.f.cps)-1] = &cp
	}
	return nil
}

// iterator implements sdk.BatchIterator over captured frames. Like the
// SDK's, it keeps the batch before the last one valid and no older one:
// each frame is copied into one of two buffers that alternate, as do the
// views over them.
type iterator struct {
	f      *frames
	i      int
	bufs   [2][]byte
	views  [2]*batch.View
	latest *abi.Checkpoint
	acked  []*abi.Checkpoint
	// reported is the position the destination reported holding.
	reported *abi.Checkpoint
	// resume is the WriteRequest's resume checkpoint.
	resume *abi.Checkpoint
	// failCommit makes Commit fail after that many acknowledgements
	// (0 = never), as when an acknowledgement is lost.
	failCommit int
	// failed is the RecordsFailed of the last commit.
	failed uint64
}

var errAckLost = errors.New("acknowledgement lost")

func (it *iterator) Schema() *batch.Schema { return it.f.schema }

func (it *iterator) Kept() bool { return true }

func (it *iterator) Next(context.Context) (*batch.View, error) {
	if it.i >= len(it.f.frames) {
		return nil, io.EOF
	}
	view := it.views[it.i%2]
	if view == nil {
		view = batch.NewView(it.f.schema)
		it.views[it.i%2] = view
	}
	frame := it.f.frames[it.i]
	buf := it.bufs[it.i%2]
	if cap(buf) < len(frame) {
		buf = make([]byte, 0, max(2*len(frame), 64<<10))
	}
	buf = append(buf[:0], frame...)
	it.bufs[it.i%2] = buf
	if err := view.Parse(buf); err != nil {
		return nil, err
	}
	if cp := it.f.cps[it.i]; cp != nil {
		it.latest = cp
	}
	it.i++
	return view, nil
}

func (it *iterator) Commit() error { return it.CommitWith(abi.CommitInfo{}) }

func (it *iterator) CommitWith(info abi.CommitInfo) error {
	it.failed = info.RecordsFailed
	if it.failCommit > 0 && len(it.acked) == it.failCommit {
		return errAckLost
	}
	it.acked = append(it.acked, it.latest)
	return nil
}

func (it *iterator) Checkpoint() *abi.Checkpoint { return it.latest }

func (it *iterator) ReportCommitted(cp abi.Checkpoint) error {
	it.reported = &cp
	return nil
}

func config(t testing.TB, c pgclient.Config, extra map[string]any) sdk.Config {
	t.Helper()
	m := map[string]any{"host": c.Host, "port": c.Port, "user": c.User, "database": c.Database}
	if c.Password != "" {
		m["password"] = c.Password
	}
	for k, v := range extra {
		m[k] = v
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.NewConfig(raw)
}

// readAll runs source-postgres natively and captures the stream.
func readAll(t testing.TB, cfg sdk.Config, spec abi.StreamSpec, resume *abi.Checkpoint, maxRows int, keep bool) (*frames, error) {
	t.Helper()
	ctx := context.Background()
	src := NewSource()
	if err := src.Open(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	defer src.Close(ctx)
	f := &frames{keep: keep}
	err := src.Read(ctx, sdk.ReadRequest{Stream: spec, Resume: resume, MaxBatchRows: maxRows}, &emitter{f: f, maxRows: maxRows})
	return f, err
}

// writeAll runs dest-postgres natively over captured frames.
func writeAll(t testing.TB, cfg sdk.Config, spec abi.StreamSpec, f *frames) (*iterator, error) {
	return writeIter(t, cfg, spec, &iterator{f: f})
}

// writeIter runs dest-postgres natively over it.
func writeIter(t testing.TB, cfg sdk.Config, spec abi.StreamSpec, it *iterator) (*iterator, error) {
	t.Helper()
	ctx := context.Background()
	d := NewDestination()
	if err := d.Open(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open destination: %w", err)
	}
	defer d.Close(ctx)
	return it, d.Write(ctx, sdk.WriteRequest{Stream: spec, Schema: it.f.schema, Resume: it.resume}, it)
}
