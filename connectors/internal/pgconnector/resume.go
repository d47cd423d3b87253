package pgconnector

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// resumeOf returns the checkpoint the source resumes after for this write.
// sdk.WriteRequest does not carry it (abi.Request.Resume is not exposed to
// destinations yet), so it is nil; Write then derives it when needed.
func resumeOf(sdk.WriteRequest) *abi.Checkpoint { return nil }

// deriveResume handles a write whose resume point is unknown. When the
// watermark shows rows of this run already committed (a retried attempt),
// it reads ahead to the first batch carrying a checkpoint, buffering the
// batches, and derives the resume record count from it: the source's
// checkpoints count rows cumulatively over the run, so the rows before
// this attempt are cp.Records minus the rows received up to that batch.
// It returns the input to write from (replaying the buffered batches).
func deriveResume(ctx context.Context, conn *pgconn.PgConn, schema string, req sdk.WriteRequest, it sdk.BatchIterator) (*abi.Checkpoint, dest.Input, error) {
	live := &input{it: it}
	committed, err := dest.CommittedRows(ctx, conn, schema, req.Stream)
	if err != nil || committed == 0 {
		return nil, live, err
	}
	p := &replay{live: live, schema: req.Schema}
	var rows uint64
	for {
		v, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			p.eof = true
			return nil, p, nil
		}
		if err != nil {
			return nil, nil, err
		}
		r, nodes, bufs := v.Layout()
		p.frames = append(p.frames, batch.EncodeFrame(nil, r, nodes, bufs, nil))
		rows += uint64(r)
		cp := it.Checkpoint()
		p.cps = append(p.cps, cp)
		if cp != nil {
			if cp.Records < rows {
				return nil, nil, fmt.Errorf("derive resume point: checkpoint counts %d records after %d received", cp.Records, rows)
			}
			return &abi.Checkpoint{Records: cp.Records - rows}, p, nil
		}
	}
}

// replay returns buffered frames first, then the live iterator's batches.
type replay struct {
	live   *input
	schema *batch.Schema
	frames [][]byte
	cps    []*abi.Checkpoint
	i      int
	eof    bool
	view   *batch.View
	latest *abi.Checkpoint
	buf    input
}

func (p *replay) Next(ctx context.Context) (dest.Batch, error) {
	if p.i < len(p.frames) {
		if p.view == nil {
			p.view = batch.NewView(p.schema)
		}
		if err := p.view.Parse(p.frames[p.i]); err != nil {
			return nil, err
		}
		if cp := p.cps[p.i]; cp != nil {
			p.latest = cp
		}
		p.frames[p.i] = nil
		p.i++
		p.buf.setView(p.view)
		return &p.buf, nil
	}
	if p.eof {
		return nil, io.EOF
	}
	b, err := p.live.Next(ctx)
	if err == nil {
		p.latest = p.live.Checkpoint()
	}
	return b, err
}

func (p *replay) Checkpoint() *abi.Checkpoint { return p.latest }

// Commit acknowledges through the SDK iterator, whose latest checkpoint is
// the one of the last buffered batch: commits happen only at checkpoint
// batches, and no buffered batch before the last one carries a checkpoint.
func (p *replay) Commit() error { return p.live.Commit() }
