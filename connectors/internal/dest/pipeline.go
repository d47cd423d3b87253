package dest

import (
	"context"
	"errors"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
)

// pipeline loads rows [lo, hi) of the current batch under on_data_error
// fail without an upsert merge. When the input keeps the batch valid
// (kept) the COPY's verdict is left pending: the next batch's COPY is sent
// right behind it, so PostgreSQL finds that data waiting when it finishes
// this batch instead of idling while the writer fetches the next one. The
// writer reads each verdict one batch behind (SettlePrevious), while the
// input still keeps that batch, so a rejected row is named as load names
// it; settle reads the last one before anything else uses the connection
// (BEGIN, the commit, a rollback).
func (w *writer) pipeline(ctx context.Context, lo, hi int, kept bool) error {
	row, err := w.loadAsync(ctx, lo, hi, kept)
	if pe, ok := errors.AsType[*pgclient.PendingCopyError](err); ok {
		return w.pendingFailure(ctx, pe.Err)
	}
	if err != nil {
		// This batch's own failure, or the connection's: the verdict of
		// the batch before no longer matters.
		w.pending = nil
		if isDataError(err) {
			return w.rowFailure(ctx, row, err)
		}
		return w.wrapLoad(err)
	}
	if w.pending != nil {
		// By now the server is past the batch before (this batch's rows
		// were queued behind it): its verdict has normally arrived.
		if err := w.client.SettlePrevious(); err != nil {
			return w.pendingFailure(ctx, err)
		}
		w.spare, w.pending = w.pending.readers, nil
	}
	if kept {
		// The readers slice is the writer's, refilled for every batch:
		// the pending batch keeps a copy.
		w.pending = &pendingBatch{readers: append(w.spare[:0], w.readers...), batchStart: w.batchStart, lo: lo, hi: hi}
		w.spare = nil
	}
	return nil
}

// settle reads the verdicts of the pending COPYs, if any, and reports a
// rejected row of the pending batch as load does.
func (w *writer) settle(ctx context.Context) error {
	if err := w.client.Settle(); err != nil {
		var pe *pgclient.PendingCopyError
		if errors.As(err, &pe) {
			// The batch before the pending one failed; SettlePrevious
			// reports it during the pipeline, so only a cancelled or
			// broken connection gets here.
			w.pending = nil
			return w.wrapLoad(pe.Err)
		}
		return w.pendingFailure(ctx, err)
	}
	w.pending = nil
	return nil
}

// pendingFailure reports err, the failure of the pending batch's COPY,
// naming the rejected row of that batch.
func (w *writer) pendingFailure(ctx context.Context, err error) error {
	p := w.pending
	w.pending = nil
	if p == nil || !isDataError(err) || ctx.Err() != nil {
		return w.wrapLoad(err) // a cancelled run is not a rejected row
	}
	w.readers, w.batchStart = p.readers, p.batchStart
	return w.rowFailure(ctx, copyRow(err, p.lo, p.hi), err)
}
