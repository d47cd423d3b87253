package dest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
)

// holdBytes bounds the copies of batches an open COPY keeps to name a row
// the server rejects after the writer moved on to later batches (an
// eighth of the stream's max_memory when that is less). PostgreSQL reads
// a COPY's data as it arrives, so its verdict on a row trails the row by
// what the socket buffers hold (a few MiB with Linux's defaults).
const holdBytes = 32 << 20

// openCopy is the COPY the writer keeps open across the batches of a
// transaction (see pipeline).
type openCopy struct {
	ci    *pgclient.CopyIn
	c     *copier
	lines int        // rows sent so far
	parts []copyPart // the batches sent, oldest first
	held  int        // bytes of the parts' copies
}

// copyPart is the rows [lo, hi) of one batch in an open COPY.
type copyPart struct {
	line   int    // the COPY's line number of row lo (the first row's is 1)
	start  uint64 // rows of the stream before the batch
	lo, hi int
	held   Held // a copy of the batch; nil when none is kept
}

// pipeline loads rows [lo, hi) of b, the current batch, under
// on_data_error fail without an upsert merge. The rows go into one COPY
// that stays open until the transaction commits: every COPY statement
// costs the server a ring of shared buffers of its own to fill, which a
// statement per batch paid again and again (docs/rationale.md, "One COPY
// per transaction"). PostgreSQL reads the data as it arrives, so it is
// busy while the writer fetches and encodes the next batch, and a
// rejected row is reported a few batches later, or when the COPY ends:
// the writer keeps a copy of each batch (within w.holdLimit) to name the
// row with its key.
func (w *writer) pipeline(ctx context.Context, b Batch, lo, hi int) error {
	if w.open == nil {
		ci, err := w.client.OpenCopy(ctx, w.copySQL)
		if err != nil {
			return w.wrapLoad(err)
		}
		w.open = &openCopy{ci: ci, c: newCopier(w.buf, w.req.CopyFlushBytes, ci.Send)}
	}
	o := w.open
	part := copyPart{start: w.batchStart, lo: lo, hi: hi}
	if w.raw != nil && len(w.keyCols) > 0 {
		spare := w.takeSpare()
		if part.held = w.in.Hold(b, spare, w.holdLimit); part.held == nil && spare != nil {
			w.spareHeld = append(w.spareHeld, spare)
		}
	}
	w.addPart(part)
	for l := lo; l < hi; l += encodeChunkRows {
		h := min(l+encodeChunkRows, hi)
		var err error
		if o.c.buf, err = w.enc.AppendRows(o.c.buf, w.readers, l, h); err != nil {
			row, rerr := w.encodeFailure(l, h, err)
			return w.rowFailure(ctx, row, fmt.Errorf("%w: %w", ErrData, rerr))
		}
		if err := o.c.maybeFlush(); err != nil {
			return w.copyFailure(ctx, err)
		}
	}
	// The rest of the batch goes now: the server works on it while the
	// writer waits for the next batch.
	if err := o.c.flushAll(); err != nil {
		return w.copyFailure(ctx, err)
	}
	return nil
}

// addPart appends p, the next rows of the open COPY, dropping the copies
// of its oldest batches while the copies exceed w.holdLimit (p keeps its
// own).
func (w *writer) addPart(p copyPart) {
	o := w.open
	p.line = o.lines + 1
	o.parts = append(o.parts, p)
	o.lines += p.hi - p.lo
	if p.held != nil {
		o.held += p.held.Size()
	}
	for i := 0; o.held > w.holdLimit && i < len(o.parts)-1; i++ {
		if h := o.parts[i].held; h != nil {
			o.held -= h.Size()
			o.parts[i].held = nil
			w.spareHeld = append(w.spareHeld, h)
		}
	}
}

// takeSpare returns a copy whose memory Input.Hold may reuse, or nil.
func (w *writer) takeSpare() Held {
	n := len(w.spareHeld)
	if n == 0 {
		return nil
	}
	h := w.spareHeld[n-1]
	w.spareHeld = w.spareHeld[:n-1]
	return h
}

// settle ends the open COPY, if any, before anything else uses the
// connection (the commit), and reports a rejected row as pipeline does.
func (w *writer) settle(ctx context.Context) error {
	o := w.open
	if o == nil {
		return nil
	}
	err := o.c.finish()
	if err == nil {
		err = o.ci.End(nil)
	}
	if err != nil {
		return w.copyFailure(ctx, err)
	}
	w.closeCopy()
	return nil
}

// closeCopy forgets the ended open COPY, keeping its buffers for reuse.
func (w *writer) closeCopy() {
	o := w.open
	w.open = nil
	w.buf = o.c.buf
	for _, p := range o.parts {
		if p.held != nil {
			w.spareHeld = append(w.spareHeld, p.held)
		}
	}
}

// abandonCopy aborts the open COPY, if any: its rows are not written.
func (w *writer) abandonCopy() {
	if w.open != nil {
		_ = w.open.ci.End(errors.New("write abandoned"))
		w.closeCopy()
	}
}

// copyFailure ends the open COPY after err, a failure to send or the
// server's verdict, and returns the write's error: for a rejected row, one
// naming it (rowFailure) from the batch its line falls in.
func (w *writer) copyFailure(ctx context.Context, err error) error {
	o := w.open
	err = o.ci.End(err) // the server's error when it rejected the COPY
	if !isDataError(err) || ctx.Err() != nil {
		w.closeCopy()
		return w.wrapLoad(err) // a cancelled run is not a rejected row
	}
	p, row := o.find(err)
	if p == nil {
		w.closeCopy()
		return w.rowFailure(ctx, -1, err)
	}
	w.batchStart = p.start
	var b Batch
	note := fmt.Sprintf("PostgreSQL rejected it after more than %d MiB of later rows were sent", w.holdLimit>>20)
	if p.held != nil {
		var berr error
		if b, berr = p.held.Batch(); berr != nil {
			note = berr.Error()
		}
	}
	w.closeCopy()
	if b == nil {
		return w.failRow(ctx, row, note, err)
	}
	for i, fi := range w.keep {
		w.readers[i] = b.Column(fi)
	}
	return w.rowFailure(ctx, row, err)
}

// find returns the part holding the row a COPY error names ("COPY t,
// line N") and the row's index in its batch, or nil.
func (o *openCopy) find(err error) (*copyPart, int) {
	var pe *pgclient.PgError
	if !errors.As(err, &pe) {
		return nil, -1
	}
	s, ok := copyLineNumber(pe.Where)
	if !ok {
		return nil, -1
	}
	line, perr := strconv.Atoi(s)
	if perr != nil {
		return nil, -1
	}
	for i := range o.parts {
		p := &o.parts[i]
		if line >= p.line && line < p.line+p.hi-p.lo {
			return p, p.lo + line - p.line
		}
	}
	return nil, -1
}
