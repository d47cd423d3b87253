package dest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
)

// Data error policies (abi.StreamSpec.OnDataError).
const (
	OnErrorFail = "fail"
	OnErrorSkip = "skip"
	OnErrorDLQ  = "dlq"
)

// ErrTooManyFailed is wrapped when a stream rejects more rows than its
// max_failed_records allows.
var ErrTooManyFailed = errors.New("too many rejected records")

// batchSavepoint guards one load under skip and dlq: a rejected row rolls
// back to it instead of aborting the transaction's earlier batches.
const batchSavepoint = "rb_batch"

// rejection is one row of the current batch the destination refused.
type rejection struct {
	row int // index in the batch
	err error
}

// isDataError reports whether err rejects a value or a row: a value the
// encoder cannot convert, or SQLSTATE class 22 (data exception) or 23
// (integrity constraint violation).
func isDataError(err error) bool {
	if errors.Is(err, ErrData) {
		return true
	}
	var pe *pgclient.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// sqlState returns the SQLSTATE of err, "" when it carries none.
func sqlState(err error) string {
	var pe *pgclient.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// loadBatch writes rows [from, n) of the current batch (w.readers) under
// the on_data_error policy and returns how many rows were rejected. Under
// fail a rejected row fails the write naming it; under skip and dlq each
// load runs under a savepoint and a failed one is split until the rejected
// rows are isolated, so a clean batch costs one COPY.
func (w *writer) loadBatch(ctx context.Context, b Batch, from, n int) (int, error) {
	if w.oneCopy() {
		return 0, w.pipeline(ctx, b, from, n)
	}
	if w.onError == OnErrorFail {
		row, err := w.load(ctx, from, n)
		if err != nil && isDataError(err) {
			return 0, w.rowFailure(ctx, row, err)
		}
		return 0, w.wrapLoad(err)
	}
	var rejected []rejection
	if err := w.isolate(ctx, from, n, &rejected); err != nil {
		return 0, err
	}
	if len(rejected) > 0 && w.onError == OnErrorDLQ {
		if err := w.deadLetter(ctx, rejected); err != nil {
			return 0, err
		}
	}
	return len(rejected), nil
}

// isolate loads rows [lo, hi) under a savepoint. On a data error it rolls
// back to it and retries the rows before the one the error names (or each
// half, when the error names none), that row alone and the rows after it,
// recording single rows that still fail in out.
func (w *writer) isolate(ctx context.Context, lo, hi int, out *[]rejection) error {
	if lo >= hi {
		return nil
	}
	if err := pgclient.Exec(ctx, w.conn, "SAVEPOINT "+batchSavepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	row, err := w.load(ctx, lo, hi)
	if err == nil {
		if err := pgclient.Exec(ctx, w.conn, "RELEASE SAVEPOINT "+batchSavepoint); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	if !isDataError(err) {
		return w.wrapLoad(err)
	}
	if err := pgclient.Exec(ctx, w.conn, "ROLLBACK TO SAVEPOINT "+batchSavepoint+"; RELEASE SAVEPOINT "+batchSavepoint); err != nil {
		return fmt.Errorf("roll back to savepoint: %w", err)
	}
	if hi-lo == 1 {
		return w.reject(lo, err, out)
	}
	if row < lo || row >= hi {
		mid := lo + (hi-lo)/2
		if err := w.isolate(ctx, lo, mid, out); err != nil {
			return err
		}
		return w.isolate(ctx, mid, hi, out)
	}
	for _, r := range [][2]int{{lo, row}, {row, row + 1}, {row + 1, hi}} {
		if err := w.isolate(ctx, r[0], r[1], out); err != nil {
			return err
		}
	}
	return nil
}

// reject counts row as rejected and enforces max_failed_records.
func (w *writer) reject(row int, err error, out *[]rejection) error {
	w.stats.Failed++
	if m := w.req.Stream.MaxFailedRecords; m > 0 && w.stats.Failed > m {
		return fmt.Errorf("%w: stream %q rejected more than max_failed_records = %d rows; the last: %v",
			ErrTooManyFailed, w.req.Stream.Name, m, describeRejection(err))
	}
	*out = append(*out, rejection{row: row, err: err})
	return nil
}

// load copies rows [lo, hi) of the current batch into the table (and
// merges them, upsert) with a COPY of their own. On failure it returns the
// batch index of the row the error names, or -1.
func (w *writer) load(ctx context.Context, lo, hi int) (int, error) {
	var encErr error
	var encLo, encHi int
	err := copyTuples(ctx, w.client, w.copySQL, w.req.CopyFlushBytes, &w.buf, func(c *copier) error {
		for l := lo; l < hi; l += encodeChunkRows {
			h := min(l+encodeChunkRows, hi)
			var err error
			if c.buf, err = w.enc.AppendRows(c.buf, w.readers, l, h); err != nil {
				encErr, encLo, encHi = err, l, h
				return err
			}
			if err := c.maybeFlush(); err != nil {
				return err
			}
		}
		return nil
	})
	if encErr != nil {
		row, rerr := w.encodeFailure(encLo, encHi, encErr)
		return row, fmt.Errorf("%w: %w", ErrData, rerr)
	}
	if err != nil {
		return copyRow(err, lo, hi), err
	}
	if w.mergeSQL != "" {
		if err := pgclient.Exec(ctx, w.conn, w.mergeSQL); err != nil {
			return -1, fmt.Errorf("upsert: %w", err)
		}
	}
	return -1, nil
}

// encodeFailure finds the row of [lo, hi) the encoder rejects.
func (w *writer) encodeFailure(lo, hi int, err error) (int, error) {
	for i := lo; i < hi; i++ {
		var rerr error
		if w.scratch, rerr = w.enc.AppendRows(w.scratch[:0], w.readers, i, i+1); rerr != nil {
			return i, rerr
		}
	}
	return -1, err
}

// copyRow maps the "COPY t, line N" context of a COPY error to the batch
// index of the row it names (the COPY began at row lo), or -1.
func copyRow(err error, lo, hi int) int {
	var pe *pgclient.PgError
	if !errors.As(err, &pe) {
		return -1
	}
	line, ok := copyLineNumber(pe.Where)
	if !ok {
		return -1
	}
	n, perr := strconv.Atoi(line)
	if perr != nil || n < 1 || lo+n-1 >= hi {
		return -1
	}
	return lo + n - 1
}

// wrapLoad adds the table to a load error.
func (w *writer) wrapLoad(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("copy into %s.%s: %w", w.schema, w.target, err)
}

// describeRejection renders a rejection's cause with its column and constraint.
func describeRejection(err error) string {
	var pe *pgclient.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	var parts []string
	col := pe.ColumnName
	if name, ok := copyColumnName(pe.Where); col == "" && ok {
		col = strings.TrimSpace(name)
	}
	if col != "" {
		parts = append(parts, fmt.Sprintf("column %q", col))
	}
	if pe.ConstraintName != "" {
		parts = append(parts, fmt.Sprintf("constraint %q", pe.ConstraintName))
	}
	parts = append(parts, fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code))
	return strings.Join(parts, ": ")
}

// namesKeys reports whether the writer can name a rejected row by its key:
// the stream has one, and its types a raw form to render it (see rowKey).
func (w *writer) namesKeys() bool { return w.raw != nil && len(w.keyCols) > 0 }

// rowFailure turns a data error under on_data_error=fail into the stream's
// error naming the row: it rolls the transaction back (nothing of it is
// committed) and reads the row's key from the current batch (w.readers).
func (w *writer) rowFailure(ctx context.Context, row int, err error) error {
	return w.failRow(ctx, row, "", err)
}

// failRow is rowFailure for a row whose batch the writer may no longer
// hold (see pipeline): with a noKey reason it reads no key and, when the
// stream has one, says why it is not named.
func (w *writer) failRow(ctx context.Context, row int, noKey string, err error) error {
	w.rollback(ctx)
	where := "a row"
	if row >= 0 {
		where = fmt.Sprintf("row %d of the stream", w.batchStart+uint64(row)+1)
		switch {
		case noKey == "":
			if key := w.rowKey(ctx, row); key != "" {
				where += " (key " + key + ")"
			}
		case w.namesKeys():
			where += " (its key is not named: " + noKey + ")"
		}
	}
	return &RowError{Err: err, msg: fmt.Sprintf("%v: stream %q, table %s.%s: %s rejected: %s; on_data_error = fail, nothing of the batch was committed",
		ErrData, w.req.Stream.Name, w.schema, w.target, where, describeRejection(err))}
}

// RowError is a row the destination rejected under on_data_error = fail;
// it matches ErrData and its cause (usually a *pgclient.PgError).
type RowError struct {
	Err error
	msg string
}

// Error implements error.
func (e *RowError) Error() string { return e.msg }

// Unwrap returns ErrData and the cause.
func (e *RowError) Unwrap() []error { return []error{ErrData, e.Err} }

// copyLineNumber finds the N of a "COPY t, line N" context: the digits
// after the last ", line " that follows "COPY " on the same line of where.
func copyLineNumber(where string) (string, bool) {
	for i := range indexes(where, "COPY ") {
		rest := where[i+len("COPY "):]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[:nl]
		}
		for j := strings.LastIndex(rest, ", line "); j >= 0; j = strings.LastIndex(rest[:j], ", line ") {
			if n := leadingDigits(rest[j+len(", line "):]); n != "" {
				return n, true
			}
		}
	}
	return "", false
}

// copyColumnName finds the column of a "line N, column c: ..." context: the
// text after the first ", line N, column " up to the next colon.
func copyColumnName(where string) (string, bool) {
	for i := range indexes(where, ", line ") {
		rest := where[i+len(", line "):]
		n := leadingDigits(rest)
		if n == "" {
			continue
		}
		if col, ok := strings.CutPrefix(rest[len(n):], ", column "); ok {
			end := strings.IndexByte(col, ':')
			if end < 0 {
				end = len(col)
			}
			if end > 0 {
				return col[:end], true
			}
		}
	}
	return "", false
}

// indexes yields every index at which sub starts in s, overlapping ones
// included, in increasing order.
func indexes(s, sub string) iter.Seq[int] {
	return func(yield func(int) bool) {
		for off := 0; off <= len(s); {
			i := strings.Index(s[off:], sub)
			if i < 0 || !yield(off+i) {
				return
			}
			off += i + 1
		}
	}
}

// leadingDigits returns the ASCII digits s starts with.
func leadingDigits(s string) string {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}
