package pgconnector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

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
	// default 4 MiB.
	CopyFlushBytes int `json:"copy_flush_bytes,omitempty"`
	// SoftDelete makes a cdc delete set _rapidbyte_deleted_at instead of
	// deleting the row; default false.
	SoftDelete bool `json:"soft_delete,omitempty"`
}

// Destination is the dest-postgres connector.
type Destination struct {
	cfg   DestinationConfig
	conn  *pgconn.PgConn
	stats dest.Stats
}

var _ sdk.Destination = (*Destination)(nil)

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
	d.conn = conn.PgConn
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
	return nil
}

// Write implements sdk.Destination.
func (d *Destination) Write(ctx context.Context, req sdk.WriteRequest, it sdk.BatchIterator) error {
	if req.Stream.SyncMode == abi.SyncCDC {
		return d.applyCDC(ctx, req, it)
	}
	if p := req.Stream.OnDataError; p != "" && p != "fail" {
		return sdk.ConfigError(fmt.Errorf("write stream %q: on_data_error %q is not supported by dest-postgres yet", req.Stream.Name, p),
			sdk.WithCode("unsupported_policy"), sdk.WithHint("use on_data_error: fail; a rejected value fails the stream as a data error"))
	}
	r := dest.Request{
		Schema:         d.cfg.Schema,
		Stream:         req.Stream,
		Resume:         resumeOf(req),
		CopyFlushBytes: d.cfg.CopyFlushBytes,
	}
	if req.Schema != nil {
		r.Fields = req.Schema.Fields
	}
	var in dest.Input = &input{it: it}
	if r.Resume == nil && req.Schema != nil {
		var err error
		if r.Resume, in, err = deriveResume(ctx, d.conn, d.cfg.Schema, req, it); err != nil {
			return classify(fmt.Errorf("write stream %q: %w", req.Stream.Name, err), d.cfg.Password, true)
		}
	}
	st, err := dest.Write(ctx, d.conn, r, in)
	d.stats = st
	if err != nil {
		return classify(fmt.Errorf("write stream %q: %w", req.Stream.Name, err), d.cfg.Password, true)
	}
	sdk.Log(ctx, abi.LogInfo, "write done", "stream", req.Stream.Name, "records", st.Records, "skipped", st.Skipped, "commits", st.Commits)
	return nil
}

// Stats returns the statistics of the last Write.
func (d *Destination) Stats() dest.Stats { return d.stats }

// Close implements sdk.Destination.
func (d *Destination) Close(ctx context.Context) error {
	if d.conn != nil {
		_ = d.conn.Close(ctx)
		d.conn = nil
	}
	return nil
}

// input adapts sdk.BatchIterator to dest.Input.
type input struct {
	it      sdk.BatchIterator
	view    *batch.View
	readers []colReader
}

func (in *input) Next(ctx context.Context) (dest.Batch, error) {
	v, err := in.it.Next(ctx)
	if err != nil {
		return nil, err
	}
	in.setView(v)
	return in, nil
}

// setView points the readers at v.
func (in *input) setView(v *batch.View) {
	in.view = v
	if len(in.readers) != v.NumColumns() {
		in.readers = make([]colReader, v.NumColumns())
	}
	for i := range in.readers {
		in.readers[i].set(v.Column(i))
	}
}

func (in *input) Rows() int                   { return in.view.Rows() }
func (in *input) Column(i int) pgarrow.Reader { return &in.readers[i] }
func (in *input) Checkpoint() *abi.Checkpoint { return in.it.Checkpoint() }
func (in *input) Commit() error               { return in.it.Commit() }
