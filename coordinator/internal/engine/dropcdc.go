package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// DropChangeStream drops the change stream of pipeline p: it holds the
// pipeline's lease (so no run starts meanwhile; a pipeline with an active
// run fails with *ActiveRunError), calls release (the source connector
// drops its replication slot and publication) and then forgets the
// pipeline's cdc cursor, so that the next run takes a new snapshot.
// cursorDeleted says whether there was a cursor to forget.
func (e *Engine) DropChangeStream(ctx context.Context, p *pipeline.Pipeline, release func(context.Context) (string, error)) (msg string, cursorDeleted bool, err error) {
	if _, ok := p.ChangeStream(); !ok {
		return "", false, fmt.Errorf("%w: pipeline %q has no stream with sync_mode: cdc", ErrNoChangeStream, p.Name)
	}
	now := time.Now()
	l := e.lease(store.Run{ID: "cdc-drop-" + uuid.NewString(), Pipeline: p.Name}, now)
	held, ok, err := e.store.AcquireLease(ctx, l, now)
	if err != nil {
		return "", false, fmt.Errorf("take the pipeline's lease: %w", err)
	}
	if !ok {
		return "", false, &ActiveRunError{Pipeline: p.Name, RunID: held.RunID, Owner: held.Owner, ExpiresAt: held.ExpiresAt}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if rerr := e.store.ReleaseLease(rctx, l.Pipeline, l.RunID, l.Owner); rerr != nil {
			e.log.Error("release lease", "pipeline", p.Name, "error", rerr)
		}
	}()
	if msg, err = release(ctx); err != nil {
		return "", false, err
	}
	_, err = e.store.GetCursor(ctx, p.Name, pipeline.ChangeStreamName, 0)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return msg, false, nil
	case err != nil:
		return "", false, fmt.Errorf("read the cdc cursor of %q: %w", p.Name, err)
	}
	if err := e.store.DeleteCursors(ctx, p.Name, pipeline.ChangeStreamName); err != nil {
		return "", false, err
	}
	e.log.Info("change stream dropped", "pipeline", p.Name, "source", msg)
	return msg, true, nil
}
