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
	cur   int        // the part whose batch w.readers still show, or -1
}

// copyPart is the rows [lo, hi) of one batch in an open COPY.
type copyPart struct {
	line   int    // the COPY's line number of row lo (the first row's is 1)
	start  uint64 // rows of the stream before the batch
	lo, hi int
	held   Held   // a copy of the batch; nil when none is kept
	unheld string // why a batch of a stream with a key has no copy
}

// oneCopy reports whether the write's batches share one COPY per
// transaction (pipeline): under on_data_error fail without an upsert
// merge.
func (w *writer) oneCopy() bool { return w.onError == OnErrorFail && w.mergeSQL == "" }

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
		w.open = &openCopy{ci: ci, c: newCopier(w.buf, w.req.CopyFlushBytes, ci.Send), cur: -1}
	}
	o := w.open
	part := copyPart{start: w.batchStart, lo: lo, hi: hi}
	if w.namesKeys() {
		spare := w.takeSpare()
		if part.held = w.in.Hold(b, spare, w.holdLimit); part.held == nil {
			part.unheld = "its batch was larger than the " + sizeText(w.holdLimit) + " of batches the destination keeps"
			w.recycle(spare)
		}
	}
	w.addPart(part)
	o.cur = len(o.parts) - 1
	for l := lo; l < hi; l += encodeChunkRows {
		h := min(l+encodeChunkRows, hi)
		var err error
		if o.c.buf, err = w.enc.AppendRows(o.c.buf, w.readers, l, h); err != nil {
			if serr := o.ci.Err(); serr != nil {
				return w.copyFailure(ctx, serr) // the server rejected an earlier row
			}
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
			o.parts[i].unheld = "PostgreSQL rejected it after more than " + sizeText(w.holdLimit) + " of later rows were sent"
			w.recycle(h)
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
	w.spareBytes -= h.Size()
	return h
}

// recycle keeps h, a copy no longer needed, for Input.Hold to reuse, while
// the kept copies take at most w.holdLimit bytes.
func (w *writer) recycle(h Held) {
	if h != nil && w.spareBytes+h.Size() <= w.holdLimit {
		w.spareHeld = append(w.spareHeld, h)
		w.spareBytes += h.Size()
	}
}

// sizeText renders n bytes in MiB, or KiB under 1 MiB.
func sizeText(n int) string {
	if n < 1<<20 {
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n>>20) + " MiB"
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
		w.recycle(p.held)
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
// naming it (rowFailure) from the batch its line falls in: the current
// batch, or the copy of an earlier one.
func (w *writer) copyFailure(ctx context.Context, err error) error {
	o := w.open
	err = o.ci.End(err) // the server's error when it rejected the COPY
	if !isDataError(err) || ctx.Err() != nil {
		w.closeCopy()
		return w.wrapLoad(err) // a cancelled run is not a rejected row
	}
	i, row := o.find(err)
	if i < 0 {
		w.closeCopy()
		return w.rowFailure(ctx, -1, err)
	}
	p := o.parts[i]
	o.parts[i].held = nil // named from below, not reused meanwhile
	w.closeCopy()
	w.batchStart = p.start
	if i == o.cur {
		return w.rowFailure(ctx, row, err)
	}
	if p.held == nil {
		return w.failRow(ctx, row, p.unheld, err)
	}
	b, berr := p.held.Batch()
	if berr != nil {
		return w.failRow(ctx, row, berr.Error(), err)
	}
	for j, fi := range w.keep {
		w.readers[j] = b.Column(fi)
	}
	return w.rowFailure(ctx, row, err)
}

// find returns the index of the part holding the row a COPY error names
// ("COPY t, line N") and the row's index in its batch, or -1, -1.
func (o *openCopy) find(err error) (part, row int) {
	var pe *pgclient.PgError
	if !errors.As(err, &pe) {
		return -1, -1
	}
	s, ok := copyLineNumber(pe.Where)
	if !ok {
		return -1, -1
	}
	line, perr := strconv.Atoi(s)
	if perr != nil {
		return -1, -1
	}
	for i, p := range o.parts {
		if line >= p.line && line < p.line+p.hi-p.lo {
			return i, p.lo + line - p.line
		}
	}
	return -1, -1
}

// inputMoved records that the input is about to return its next batch:
// w.readers no longer show any batch of the open COPY.
func (w *writer) inputMoved() {
	if w.open != nil {
		w.open.cur = -1
	}
}
