// Package dest writes Arrow batches into PostgreSQL tables with binary
// COPY: table creation and schema evolution, append / replace / upsert
// write modes, commits at checkpoints and a watermark table that makes
// retried attempts and later runs neither lose nor duplicate rows.
package dest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Write modes.
const (
	ModeAppend  = "append"
	ModeReplace = "replace"
	ModeUpsert  = "upsert"
)

// DefaultCopyFlushBytes is the default size of one hand-off to COPY. Small
// enough that PostgreSQL reads one piece while the guest encodes the next
// (a guest is one thread: encoding a 4 MiB piece left the server idle
// meanwhile), large enough to keep host calls few: 1M-row runs took 1.80 s
// at 128 KiB against 1.98 s at 4 MiB (docs/rationale.md).
const DefaultCopyFlushBytes = 128 << 10

// encodeChunkRows bounds how many rows are encoded between flush checks.
const encodeChunkRows = 1024

// Batch is one received batch.
type Batch interface {
	// Rows returns the number of rows.
	Rows() int
	// Column returns the reader of field i.
	Column(i int) pgarrow.Reader
}

// Held is a batch copied out of the input's buffers (Input.Hold).
type Held interface {
	// Batch returns the copy as a batch.
	Batch() (Batch, error)
	// Size returns the bytes the copy holds.
	Size() int
}

// Input is the stream being written.
type Input interface {
	// Next returns the next batch or io.EOF.
	Next(ctx context.Context) (Batch, error)
	// Hold copies b, the batch Next returned last, so that it outlives
	// later calls to Next, unless its buffers take more than limit bytes
	// (then it returns nil). It may reuse the memory of spare, an earlier
	// copy the caller no longer needs (nil for none).
	Hold(b Batch, spare Held, limit int) Held
	// Checkpoint returns the latest checkpoint carried by the batches
	// returned so far, or nil.
	Checkpoint() *abi.Checkpoint
	// Commit acknowledges that every row returned so far is durable
	// (failed of them rejected under on_data_error skip or dlq).
	Commit(failed uint64) error
	// ReportCommitted acknowledges, before the first Next, that the
	// destination already holds every row up to cp.
	ReportCommitted(cp abi.Checkpoint) error
}

// Request is one write.
type Request struct {
	// Schema is the destination schema; default "public".
	Schema string
	// Stream is the stream with write mode, primary key, new-column
	// policy, pipeline and run id.
	Stream abi.StreamSpec
	// Resume is the checkpoint the source resumes after (nil on a fresh
	// start): the input's first row is the first row after it.
	Resume *abi.Checkpoint
	// Fields is the schema of every batch; nil for an empty stream.
	Fields []abi.Field
	// CopyFlushBytes is the COPY hand-off size; default DefaultCopyFlushBytes.
	CopyFlushBytes int
}

// Stats summarises a write.
type Stats struct {
	// Records counts rows written by this attempt; Skipped counts rows
	// dropped because an earlier attempt of the run already completed the
	// stream; Failed counts rows the destination rejected under
	// on_data_error skip or dlq.
	Records, Skipped, Failed uint64
	// Commits counts committed transactions.
	Commits int
	// DroppedStaging lists the staging tables of earlier, failed runs of
	// the pipeline's stream that this write dropped.
	DroppedStaging []string
	// Drifts is the schema drift found when planning the write, with the
	// policy applied to each.
	Drifts []Drift
	// Flush is the time spent loading batches (COPY, and the bad-row
	// isolation of on_data_error skip or dlq); Commit the time spent
	// committing (swap, watermark, COMMIT).
	Flush, Commit time.Duration
}

// CommitUnknownError reports a COMMIT whose outcome is unknown (the
// connection failed while committing): retrying could duplicate rows.
type CommitUnknownError struct{ Err error }

// Error implements error.
func (e *CommitUnknownError) Error() string { return "commit outcome unknown: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *CommitUnknownError) Unwrap() error { return e.Err }

// ResumeAheadError reports that the destination already holds rows after
// the position the source resumes from (an acknowledgement was lost, or an
// earlier run failed after committing). The write reported Committed to the
// host before failing, so the next attempt resumes the source after it.
type ResumeAheadError struct {
	// Committed is the position up to which the destination holds rows.
	Committed abi.Checkpoint
	// RunID is the run that committed it.
	RunID string
}

// Error implements error.
func (e *ResumeAheadError) Error() string {
	return fmt.Sprintf("destination already holds rows up to %s (committed by run %s): resume the source after it", describe(&e.Committed), e.RunID)
}

// describe renders a checkpoint's position for messages.
func describe(cp *abi.Checkpoint) string {
	if cp.CursorField == "" {
		return fmt.Sprintf("record %d", cp.Records)
	}
	s := cp.CursorField + " " + cursorText(cp.CursorValue)
	if cp.TieBreakerField != "" {
		s += ", " + cp.TieBreakerField + " " + cursorText(cp.TieBreakerValue)
	}
	return s
}

func cursorText(v *abi.CursorValue) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writer is the state of one Write.
type writer struct {
	client     *pgclient.Conn // COPY
	conn       *pgclient.Conn // everything else: client's
	req        Request
	schema     string
	target     string // destination table
	table      pgcatalog.Table
	mode       string
	keep       []int // indexes of written fields
	names      []string
	enc        *pgarrow.Encoder
	copySQL    string
	mergeSQL   string
	wm         *wmKey
	position   uint64 // rows of the run's stream up to the end of the current batch
	completed  bool   // an earlier attempt of this run completed the stream
	inTx       bool
	buf        []byte
	readers    []pgarrow.Reader
	onError    string    // on_data_error policy
	raw        *rawTable // renders rejected rows; nil when the types have no raw form
	keyCols    []string  // key columns naming a rejected row
	scratch    []byte
	batchStart uint64 // rows of the run's stream before the current batch
	lastCP     *abi.Checkpoint
	stats      Stats
	in         Input
	// open is the COPY the writer keeps open across batches (see
	// pipeline), nil when none is.
	open       *openCopy
	holdLimit  int    // bytes of batch copies an open COPY keeps (see pipeline)
	spareHeld  []Held // copies of batches no longer needed, reused
	spareBytes int    // their size
}

// Write writes the input into the destination table.
func Write(ctx context.Context, conn *pgclient.Conn, req Request, in Input) (Stats, error) {
	w := &writer{client: conn, conn: conn, req: req, schema: req.Schema, mode: req.Stream.WriteMode, in: in}
	if w.schema == "" {
		w.schema = "public"
	}
	if w.mode == "" {
		w.mode = ModeAppend
	}
	w.onError = req.Stream.OnDataError
	if w.onError == "" {
		w.onError = OnErrorFail
	}
	w.target = req.Stream.DestinationTable
	if w.target == "" {
		w.target = req.Stream.Name
	}
	if req.CopyFlushBytes <= 0 {
		w.req.CopyFlushBytes = DefaultCopyFlushBytes
	}
	w.holdLimit = holdBytes
	if m := req.Stream.Limits.MaxMemoryBytes; m > 0 {
		w.holdLimit = int(min(holdBytes, m/8))
	}
	if err := w.setup(ctx, in); err != nil {
		return w.stats, err
	}
	err := w.run(ctx, in)
	if err != nil {
		w.rollback(ctx)
	}
	return w.stats, err
}

func (w *writer) setup(ctx context.Context, in Input) error {
	switch w.mode {
	case ModeAppend, ModeUpsert:
	case ModeReplace:
		if p := w.req.Stream.Partition; p != nil && p.Count > 1 {
			return fmt.Errorf("%w: replace mode cannot write a partitioned stream (%d partitions)", ErrConfig, p.Count)
		}
	default:
		return fmt.Errorf("%w: write mode %q", ErrConfig, w.mode)
	}
	switch w.onError {
	case OnErrorFail, OnErrorSkip:
	case OnErrorDLQ:
		if err := ensureDLQTable(ctx, w.conn, w.schema); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: on_data_error %q (want fail, skip or dlq)", ErrConfig, w.onError)
	}
	if w.req.Stream.RunID != "" {
		if err := ensureWatermarkTable(ctx, w.conn, w.schema); err != nil {
			return err
		}
		k := wmKey{schema: w.schema, pipeline: w.req.Stream.Pipeline, stream: w.target}
		if p := w.req.Stream.Partition; p != nil {
			k.partition = p.Index
		}
		w.wm = &k
		var err error
		if w.stats.DroppedStaging, err = dropStaleStaging(ctx, w.conn, w.schema, k.pipeline, w.target, w.req.Stream.RunID); err != nil {
			return err
		}
		wm, err := readWatermark(ctx, w.conn, k)
		if err != nil {
			return err
		}
		if w.req.Resume != nil {
			w.position = w.req.Resume.Records
		}
		w.completed = wm.found && wm.runID == w.req.Stream.RunID && wm.completed
		ahead, err := w.aheadOfResume(ctx, wm)
		if err != nil {
			return err
		}
		if ahead {
			if err := in.ReportCommitted(*wm.cp); err != nil {
				return err
			}
			return &ResumeAheadError{Committed: *wm.cp, RunID: wm.runID}
		}
	}
	if w.req.Fields == nil {
		return nil
	}
	return w.prepareTable(ctx)
}

// aheadOfResume reports whether the destination holds rows after the
// position the source resumes from, so that writing this input would
// duplicate them. The watermark counts for the same run (a retry whose
// acknowledgement was lost) and, for incremental streams, for any earlier
// run of the pipeline (a failed, orphaned or unknown-commit run): the
// destination is the truth for what it holds. It does not count when the
// run already completed the stream (every row is then dropped), when the
// cursor field changed, or when the target table is gone (nothing is held).
func (w *writer) aheadOfResume(ctx context.Context, wm watermark) (bool, error) {
	if !wm.found || wm.cp == nil || samePosition(wm.cp, w.req.Resume) {
		return false, nil
	}
	if wm.runID == w.req.Stream.RunID {
		return !wm.completed, nil
	}
	if w.req.Stream.SyncMode != "incremental" {
		return false, nil // each full refresh run copies the table again
	}
	if r := w.req.Resume; r != nil && r.CursorField != wm.cp.CursorField {
		return false, nil
	}
	_, exists, err := pgcatalog.Lookup(ctx, w.conn, w.schema, w.target)
	return exists, err
}

// stagingName is the run-scoped staging table of replace mode; it survives
// attempts of the same run.
func (w *writer) stagingName() string {
	h := sha256.Sum256([]byte(w.req.Stream.Pipeline + "\x00" + w.target + "\x00" + w.req.Stream.RunID))
	return "_rb_stage_" + hex.EncodeToString(h[:10])
}

func (w *writer) prepareTable(ctx context.Context) error {
	fields := w.req.Fields
	pk := w.req.Stream.PrimaryKey
	t, exists, err := pgcatalog.Lookup(ctx, w.conn, w.schema, w.target)
	if err != nil {
		return err
	}
	if w.mode == ModeUpsert && len(pk) == 0 {
		if exists && len(t.PrimaryKey) > 0 {
			pk = t.PrimaryKey
		} else {
			return fmt.Errorf("%w: upsert into %s.%s needs primary_key", ErrConfig, w.schema, w.target)
		}
	}
	writeTo := w.target
	switch {
	case w.mode == ModeReplace:
		writeTo = w.stagingName()
		if _, ok, err := pgcatalog.Lookup(ctx, w.conn, w.schema, writeTo); err != nil {
			return err
		} else if !ok && !w.completed {
			// The comment names the owner, so the pipeline's next run can
			// drop the table if this run fails for good.
			comment := fmt.Sprintf("COMMENT ON TABLE %s IS %s", pgsql.Qualified(w.schema, writeTo),
				pgsql.Literal(ownerComment(w.req.Stream.Pipeline, w.target, w.req.Stream.RunID)))
			if exists {
				err = ddl(ctx, w.conn, w.schema, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (LIKE %s INCLUDING ALL); %s",
					pgsql.Qualified(w.schema, writeTo), pgsql.Qualified(w.schema, w.target), comment))
			} else {
				err = createTable(ctx, w.conn, w.schema, writeTo, fields, pk, comment)
			}
			if err != nil {
				return fmt.Errorf("create staging table: %w", err)
			}
		}
	case !exists:
		var tablePK []string
		if w.mode == ModeUpsert {
			tablePK = pk
		}
		if err := createTable(ctx, w.conn, w.schema, w.target, fields, tablePK); err != nil {
			return err
		}
	}
	if w.completed && w.mode == ModeReplace {
		return nil // swapped by an earlier attempt: every row will be skipped
	}
	t, ok, err := pgcatalog.Lookup(ctx, w.conn, w.schema, writeTo)
	if err != nil || !ok {
		return fmt.Errorf("look up %s.%s: %v", w.schema, writeTo, err)
	}
	keep, t, err := w.evolve(ctx, t, fields)
	if err != nil {
		return err
	}
	w.table, w.keep = t, keep
	var dstT, srcT []pgarrow.Type
	for _, i := range keep {
		f := fields[i]
		c, _, _ := t.Column(f.Name)
		st, err := pgarrow.ParseArrow(f.Type)
		if err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrSchema, f.Name, err)
		}
		dstT, srcT, w.names = append(dstT, c.Type), append(srcT, st), append(w.names, f.Name)
	}
	if w.enc, err = pgarrow.NewEncoder(dstT, srcT); err != nil {
		return fmt.Errorf("%w: %s.%s: %v", ErrSchema, w.schema, writeTo, err)
	}
	w.readers = make([]pgarrow.Reader, len(keep))
	w.raw = newRawTable("_rb_raw_"+w.stagingName()[len("_rb_stage_"):], w.names, srcT)
	w.keyCols = nil
	for _, k := range append(append([]string(nil), pk...), t.PrimaryKey...) {
		if containsName(w.names, k) && !containsName(w.keyCols, k) && (len(pk) == 0 || containsName(pk, k)) {
			w.keyCols = append(w.keyCols, k)
		}
	}
	copyInto := pgsql.Qualified(w.schema, writeTo)
	if w.mode == ModeUpsert {
		if copyInto, err = w.prepareUpsert(ctx, pk); err != nil {
			return err
		}
	}
	w.copySQL = fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", copyInto, pgsql.Idents(w.names))
	return nil
}

// prepareUpsert creates the session's temp staging table and the merge
// statement; it returns the table to COPY into.
func (w *writer) prepareUpsert(ctx context.Context, pk []string) (string, error) {
	for _, k := range pk {
		if !containsName(w.names, k) {
			return "", fmt.Errorf("%w: primary key column %q is not in the stream", ErrConfig, k)
		}
	}
	tmp := pgsql.Ident("_rb_upsert_" + w.stagingName()[len("_rb_stage_"):])
	cols := pgsql.Idents(w.names)
	sql := fmt.Sprintf(`DROP TABLE IF EXISTS pg_temp.%[1]s;
CREATE TEMP TABLE %[1]s ON COMMIT DELETE ROWS AS SELECT %[2]s FROM %[3]s WITH NO DATA;
ALTER TABLE pg_temp.%[1]s ADD COLUMN "_rb_seq" bigserial`, tmp, cols, pgsql.Qualified(w.schema, w.target))
	if err := pgclient.Exec(ctx, w.conn, sql); err != nil {
		return "", fmt.Errorf("create upsert staging table: %w", err)
	}
	var sets []string
	for _, n := range w.names {
		if !containsName(pk, n) {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%s", pgsql.Ident(n), pgsql.Ident(n)))
		}
	}
	action := "DO NOTHING"
	if len(sets) > 0 {
		action = "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	pkl := pgsql.Idents(pk)
	w.mergeSQL = fmt.Sprintf(`INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM pg_temp.%s ORDER BY %s, "_rb_seq" DESC ON CONFLICT (%s) %s; DELETE FROM pg_temp.%s`,
		pgsql.Qualified(w.schema, w.target), cols, pkl, cols, tmp, pkl, pkl, action, tmp)
	return "pg_temp." + tmp, nil
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func (w *writer) run(ctx context.Context, in Input) error {
	for {
		w.inputMoved()
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := w.writeBatch(ctx, b); err != nil {
			return err
		}
		if cp := in.Checkpoint(); cp != nil && cp != w.lastCP {
			if err := w.commit(ctx, cp, false); err != nil {
				return err
			}
			w.lastCP = cp
			if err := in.Commit(w.stats.Failed); err != nil {
				return err
			}
		}
	}
	if err := w.commit(ctx, in.Checkpoint(), true); err != nil {
		return err
	}
	return in.Commit(w.stats.Failed)
}

// writeBatch writes b.
func (w *writer) writeBatch(ctx context.Context, b Batch) error {
	n := b.Rows()
	if w.completed {
		w.stats.Skipped += uint64(n)
		return nil
	}
	w.batchStart = w.position
	w.position += uint64(n)
	if n == 0 || w.enc == nil {
		return nil
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	for i, fi := range w.keep {
		w.readers[i] = b.Column(fi)
	}
	t0 := time.Now()
	failed, err := w.loadBatch(ctx, b, 0, n)
	w.stats.Flush += time.Since(t0)
	if err != nil {
		return err
	}
	w.stats.Records += uint64(n - failed)
	return nil
}

func (w *writer) begin(ctx context.Context) error {
	if w.inTx {
		return nil
	}
	if err := w.settle(ctx); err != nil {
		return err
	}
	begin := "BEGIN"
	if w.oneCopy() {
		// One COPY spans the transaction (see pipeline), waits for the
		// input included: a statement_timeout sized for queries would cut
		// it short (pg_restore turns it off for the same reason).
		begin = "BEGIN; SET LOCAL statement_timeout = 0"
	}
	if err := pgclient.Exec(ctx, w.conn, begin); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.inTx = true
	return nil
}

// commit ends the current transaction: swaps (replace, final), records
// the watermark and commits.
func (w *writer) commit(ctx context.Context, cp *abi.Checkpoint, final bool) error {
	t0 := time.Now()
	defer func() { w.stats.Commit += time.Since(t0) }()
	if err := w.settle(ctx); err != nil {
		return err
	}
	swap := final && w.mode == ModeReplace && !w.completed
	if !w.inTx && !swap && (w.wm == nil || final && w.completed) {
		return nil
	}
	if err := w.begin(ctx); err != nil {
		return err
	}
	if swap {
		if err := w.swap(ctx); err != nil {
			return err
		}
	}
	if w.wm != nil {
		if err := writeWatermark(ctx, w.conn, *w.wm, w.req.Stream.RunID, w.position, final, cp); err != nil {
			return err
		}
	}
	tag, err := pgclient.ExecTag(ctx, w.conn, "COMMIT")
	w.inTx = false
	if err != nil {
		var pgErr *pgclient.PgError
		if errors.As(err, &pgErr) {
			return fmt.Errorf("commit: %w", err)
		}
		return &CommitUnknownError{Err: err}
	}
	if tag != "COMMIT" {
		return fmt.Errorf("commit: transaction was rolled back")
	}
	w.stats.Commits++
	return nil
}

// swap replaces the target with the staging table, inside the transaction.
func (w *writer) swap(ctx context.Context) error {
	stage := w.stagingName()
	if _, ok, err := pgcatalog.Lookup(ctx, w.conn, w.schema, stage); err != nil {
		return err
	} else if !ok {
		if w.req.Fields != nil {
			return fmt.Errorf("replace %s.%s: staging table %s is missing", w.schema, w.target, stage)
		}
		// Empty stream: replace means "now empty".
		if _, exists, err := pgcatalog.Lookup(ctx, w.conn, w.schema, w.target); err != nil || !exists {
			return err
		}
		return pgclient.Exec(ctx, w.conn, "TRUNCATE "+pgsql.Qualified(w.schema, w.target))
	}
	sql := fmt.Sprintf("DROP TABLE IF EXISTS %s; ALTER TABLE %s RENAME TO %s",
		pgsql.Qualified(w.schema, w.target), pgsql.Qualified(w.schema, stage), pgsql.Ident(w.target))
	if err := pgclient.Exec(ctx, w.conn, sql); err != nil {
		return fmt.Errorf("swap %s into %s.%s: %w", stage, w.schema, w.target, err)
	}
	return nil
}

// rollback abandons the open transaction.
func (w *writer) rollback(ctx context.Context) {
	w.abandonCopy()
	if w.inTx && !w.conn.IsClosed() {
		_ = pgclient.Exec(context.WithoutCancel(ctx), w.conn, "ROLLBACK")
		w.inTx = false
	}
}
