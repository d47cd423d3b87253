package pgconnector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// DestinationConfig is the dest-postgres config.
type DestinationConfig struct {
	pgclient.Config
	// CopyFlushBytes is how many encoded bytes are handed to COPY at once;
	// default 128 KiB (dest.DefaultCopyFlushBytes).
	CopyFlushBytes int `json:"copy_flush_bytes,omitempty"`
	// SoftDelete makes a cdc delete set _rapidbyte_deleted_at instead of
	// deleting the row; default false.
	SoftDelete bool `json:"soft_delete,omitempty"`
}

// Destination is the dest-postgres connector.
type Destination struct {
	cfg    DestinationConfig
	conn   *pgclient.Conn // client's
	client *pgclient.Conn
	stats  dest.Stats
	note   string
}

var (
	_ sdk.Destination = (*Destination)(nil)
	_ sdk.CheckNoter  = (*Destination)(nil)
)

// NewDestination returns an unopened destination.
func NewDestination() *Destination { return &Destination{} }

// Open implements sdk.Destination: it validates the config and connects.
func (d *Destination) Open(ctx context.Context, raw sdk.Config) error {
	var c DestinationConfig
	if err := decodeConfig(raw, &c, &c.Config); err != nil {
		return err
	}
	if c.CopyFlushBytes < 0 {
		return sdk.ConfigError(fmt.Errorf("config: copy_flush_bytes must not be negative"), sdk.WithCode("invalid_field"))
	}
	d.cfg = c
	conn, err := connect(ctx, d.cfg.Config, true)
	if err != nil {
		return err
	}
	d.client, d.conn = conn, conn
	return nil
}

// Check implements sdk.Destination: it creates (and rolls back) a table in
// the configured schema to prove write access.
func (d *Destination) Check(ctx context.Context) error {
	if err := check(ctx, d.conn, d.cfg.Config, true); err != nil {
		return err
	}
	schema := d.cfg.Schema
	if schema == "" {
		schema = "public"
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	probe := pgsql.Qualified(schema, "_rb_check_"+hex.EncodeToString(rnd[:]))
	err := pgclient.Exec(ctx, d.conn, fmt.Sprintf("BEGIN; CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE %s (x int); ROLLBACK", pgsql.Ident(schema), probe))
	if err != nil {
		_ = pgclient.Exec(ctx, d.conn, "ROLLBACK")
		return classify(fmt.Errorf("check write access to schema %q: %w", schema, err), d.cfg.Password, false)
	}
	stale, err := dest.StagingTables(ctx, d.conn, schema)
	if err != nil {
		return classify(err, d.cfg.Password, false)
	}
	if len(stale) > 0 {
		names := make([]string, len(stale))
		for i, st := range stale {
			names[i] = st.String()
		}
		d.note = fmt.Sprintf("ok; %d replace-mode staging table(s) in schema %q, dropped by the owning pipeline's next run: %s",
			len(stale), schema, strings.Join(names, "; "))
	}
	return nil
}

// CheckNote implements sdk.CheckNoter: it lists the staging tables Check found.
func (d *Destination) CheckNote() string { return d.note }

var _ sdk.StreamChecker = (*Destination)(nil)

// CheckStreams implements sdk.StreamChecker: it reports, per stream, the
// schema drift between the source's fields and the destination table (and
// the schema the pipeline last wrote), and fails when a drift's
// schema_evolution policy is fail. Nothing is changed.
func (d *Destination) CheckStreams(ctx context.Context, streams []abi.StreamSchema) (string, error) {
	schema := d.cfg.Schema
	if schema == "" {
		schema = "public"
	}
	var lines, fails []string
	for _, s := range streams {
		target := s.Stream.DestinationTable
		if target == "" {
			target = s.Stream.Name
		}
		plan, exists, err := dest.PlanWrite(ctx, d.conn, schema, s.Stream, s.Fields)
		if err != nil {
			return "", classify(fmt.Errorf("check stream %q: %w", s.Stream.Name, err), d.cfg.Password, false)
		}
		switch {
		case !exists:
			lines = append(lines, fmt.Sprintf("%s.%s will be created", schema, target))
		case len(plan.Drifts) == 0:
			lines = append(lines, fmt.Sprintf("%s.%s: no schema drift", schema, target))
		default:
			ds := make([]string, len(plan.Drifts))
			for i, dr := range plan.Drifts {
				ds[i] = dr.String()
			}
			lines = append(lines, fmt.Sprintf("%s.%s: %s", schema, target, strings.Join(ds, "; ")))
		}
		if err := plan.Err(schema, target); err != nil {
			fails = append(fails, err.Error())
		}
	}
	if len(fails) > 0 {
		return "", sdk.SchemaError(fmt.Errorf("%s", strings.Join(fails, "; ")), sdk.WithCode("schema_drift"),
			sdk.WithHint("change the destination's schema_evolution policy or the destination table before running"))
	}
	return strings.Join(lines, "; "), nil
}

// Write implements sdk.Destination.
func (d *Destination) Write(ctx context.Context, req sdk.WriteRequest, it sdk.BatchIterator) error {
	if req.Stream.SyncMode == abi.SyncCDC {
		return d.applyCDC(ctx, req, it)
	}
	r := dest.Request{
		Schema:         d.cfg.Schema,
		Stream:         req.Stream,
		Resume:         req.Resume,
		CopyFlushBytes: d.cfg.CopyFlushBytes,
	}
	if req.Schema != nil {
		r.Fields = req.Schema.Fields
	}
	st, err := dest.Write(ctx, d.client, r, &input{it: it})
	d.stats = st
	sdk.RecordPhase(ctx, sdk.PhaseFlush, st.Flush)
	sdk.RecordPhase(ctx, sdk.PhaseCommit, st.Commit)
	for _, dr := range st.Drifts {
		sdk.Log(ctx, abi.LogWarn, "schema drift", "stream", req.Stream.Name, "drift", dr.String())
	}
	if err != nil {
		return classify(fmt.Errorf("write stream %q: %w", req.Stream.Name, err), d.cfg.Password, true)
	}
	if len(st.DroppedStaging) > 0 {
		sdk.Log(ctx, abi.LogInfo, "dropped staging tables of earlier failed runs", "stream", req.Stream.Name, "tables", strings.Join(st.DroppedStaging, ", "))
	}
	sdk.Log(ctx, abi.LogInfo, "write done", "stream", req.Stream.Name, "records", st.Records, "skipped", st.Skipped, "failed", st.Failed, "commits", st.Commits)
	return nil
}

// Stats returns the statistics of the last Write.
func (d *Destination) Stats() dest.Stats { return d.stats }

// Close implements sdk.Destination.
func (d *Destination) Close(ctx context.Context) error {
	if d.conn != nil {
		_ = d.conn.Close(ctx)
		d.client, d.conn = nil, nil
	}
	return nil
}

// input adapts sdk.BatchIterator to dest.Input.
type input struct {
	it  sdk.BatchIterator
	cur inputBatch
}

// inputBatch is one batch of an input: a view and its column readers.
type inputBatch struct {
	view    *batch.View
	readers []colReader
}

func (in *input) Next(ctx context.Context) (dest.Batch, error) {
	v, err := in.it.Next(ctx)
	if err != nil {
		return nil, err
	}
	in.cur.setView(v)
	return &in.cur, nil
}

// Hold implements dest.Input: it copies the batch's buffers into memory of
// its own (spare's when it has room), parsed into a batch only when asked.
func (in *input) Hold(b dest.Batch, spare dest.Held, limit int) dest.Held {
	v := b.(*inputBatch).view
	rows, nodes, bufs := v.Layout()
	size := 0
	for _, buf := range bufs {
		size += align8(len(buf))
	}
	if size > limit {
		return nil
	}
	h, _ := spare.(*heldBatch)
	if h == nil {
		h = &heldBatch{}
	}
	h.schema, h.rows = v.Schema(), rows
	h.nodes = append(h.nodes[:0], nodes...)
	h.data = slices.Grow(h.data[:0], size)[:size]
	h.bufs = h.bufs[:0]
	off := 0
	for _, buf := range bufs {
		n := copy(h.data[off:], buf)
		h.bufs = append(h.bufs, h.data[off:off+n:off+n])
		off += align8(n)
	}
	h.batch.view = nil
	return h
}

// heldBatch is a batch copied by input.Hold.
type heldBatch struct {
	schema *batch.Schema
	rows   int
	nodes  []batch.Node
	bufs   [][]byte
	data   []byte
	batch  inputBatch
}

// Batch implements dest.Held.
func (h *heldBatch) Batch() (dest.Batch, error) {
	if h.batch.view == nil {
		v := batch.NewView(h.schema)
		if err := v.Set(h.rows, h.nodes, h.bufs); err != nil {
			return nil, fmt.Errorf("held batch: %w", err)
		}
		h.batch.setView(v)
	}
	return &h.batch, nil
}

// Size implements dest.Held: the memory the copy takes.
func (h *heldBatch) Size() int { return cap(h.data) }

// align8 rounds n up to a multiple of 8.
func align8(n int) int { return (n + 7) &^ 7 }

// setView points the readers at v.
func (b *inputBatch) setView(v *batch.View) {
	b.view = v
	if len(b.readers) != v.NumColumns() {
		b.readers = make([]colReader, v.NumColumns())
	}
	for i := range b.readers {
		b.readers[i].set(v.Column(i))
	}
}

func (b *inputBatch) Rows() int                   { return b.view.Rows() }
func (b *inputBatch) Column(i int) pgarrow.Reader { return &b.readers[i] }
func (in *input) Checkpoint() *abi.Checkpoint     { return in.it.Checkpoint() }
func (in *input) Commit(failed uint64) error {
	return in.it.CommitWith(abi.CommitInfo{RecordsFailed: failed})
}

func (in *input) ReportCommitted(cp abi.Checkpoint) error { return in.it.ReportCommitted(cp) }
