// Command test-generator is a test connector: a source that emits a
// deterministic stream of rows of many types (with nulls, strings,
// timestamps, decimals, lists) and checkpoints, and a destination that
// verifies every received value and counts rows, so the runtime can be
// tested without PostgreSQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func init() {
	sdk.Serve(sdk.Connector{Source: &source{}, Destination: &destination{}})
}

func main() {}

// config is shared by both roles.
type config struct {
	// Rows is the number of rows the source emits (default 1000).
	Rows int64 `json:"rows"`
	// BatchRows caps rows per batch (default: the request's limit).
	BatchRows int `json:"batch_rows"`
	// Columns selects columns by name (default all); id is always included.
	Columns []string `json:"columns"`
	// CheckpointEvery is the number of batches between checkpoints
	// (default 1).
	CheckpointEvery int `json:"checkpoint_every"`
	// CommitEvery is the number of batches between destination commits
	// (default 1).
	CommitEvery int `json:"commit_every"`
	// ExpectRows makes the destination fail unless it receives exactly
	// this many rows (0 = no check).
	ExpectRows int64 `json:"expect_rows"`
	// Verify makes the destination check every value (default true).
	Verify *bool `json:"verify"`
	// Host is accepted for allow-list tests; the generator dials nothing.
	Host string `json:"host"`
}

func decode(cfg sdk.Config) (config, error) {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return c, err
	}
	if c.Rows == 0 {
		c.Rows = 1000
	}
	if c.Rows < 0 || c.BatchRows < 0 || c.CheckpointEvery < 0 || c.CommitEvery < 0 {
		return c, sdk.ConfigError(errors.New("rows, batch_rows, checkpoint_every and commit_every must not be negative"), sdk.WithCode("invalid_field"))
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 1
	}
	if c.CommitEvery == 0 {
		c.CommitEvery = 1
	}
	if _, err := selectColumns(c.Columns); err != nil {
		return c, sdk.ConfigError(fmt.Errorf("config field \"columns\": %w", err), sdk.WithCode("invalid_field"))
	}
	return c, nil
}

type source struct{ cfg config }

func (s *source) Open(_ context.Context, cfg sdk.Config) (err error) {
	s.cfg, err = decode(cfg)
	return err
}

func (s *source) Discover(context.Context) (*abi.Catalog, error) {
	st := abi.Stream{Name: "generated", SupportedSyncModes: []string{abi.SyncFullRefresh, abi.SyncIncremental},
		SourceDefinedCursor: true, DefaultCursorField: "id", SourceDefinedPrimaryKey: []string{"id"}}
	for _, c := range columns {
		st.Columns = append(st.Columns, abi.Column{Name: c.field.Name, ArrowType: c.field.Type, Nullable: c.field.Nullable, SourceType: c.field.SourceType})
	}
	return &abi.Catalog{Streams: []abi.Stream{st}}, nil
}

func (s *source) Check(context.Context) error { return nil }

func (s *source) Read(ctx context.Context, req sdk.ReadRequest, e sdk.Emitter) error {
	cols, err := selectColumns(s.cfg.Columns)
	if err != nil {
		return sdk.ConfigError(err)
	}
	fields := make([]abi.Field, len(cols))
	for i, c := range cols {
		fields[i] = c.field
	}
	b, err := e.Schema(fields)
	if err != nil {
		return err
	}
	maxRows := b.MaxRows()
	if s.cfg.BatchRows > 0 && s.cfg.BatchRows < maxRows {
		maxRows = s.cfg.BatchRows
	}
	start := int64(0)
	if cp := req.Resume; cp != nil && cp.CursorValue != nil && cp.CursorValue.Int != nil {
		start = *cp.CursorValue.Int + 1
	}
	batches := 0
	emitted := uint64(0)
	flush := func(last int64) error {
		n := b.Rows()
		if n == 0 {
			return nil
		}
		if err := e.Emit(b); err != nil {
			return err
		}
		emitted += uint64(n)
		batches++
		if batches%s.cfg.CheckpointEvery == 0 {
			return e.Checkpoint(checkpointAt(req.Stream.Name, last, emitted))
		}
		return nil
	}
	for i := start; i < s.cfg.Rows; i++ {
		for c := range cols {
			cols[c].append(b.Column(c), i)
		}
		if n := b.Rows(); n >= maxRows || n%1024 == 0 && b.Full() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(i); err != nil {
				return err
			}
		}
	}
	if b.Rows() > 0 {
		if err := flush(s.cfg.Rows - 1); err != nil {
			return err
		}
	}
	if batches%s.cfg.CheckpointEvery != 0 && s.cfg.Rows > start {
		return e.Checkpoint(checkpointAt(req.Stream.Name, s.cfg.Rows-1, emitted))
	}
	return nil
}

func checkpointAt(stream string, last int64, records uint64) abi.Checkpoint {
	v := last
	return abi.Checkpoint{Stream: stream, CursorField: "id", CursorValue: &abi.CursorValue{Int: &v}, Records: records}
}

func (s *source) Close(context.Context) error { return nil }

type destination struct {
	cfg  config
	rows int64
}

func (d *destination) Open(_ context.Context, cfg sdk.Config) (err error) {
	d.cfg, err = decode(cfg)
	return err
}

func (d *destination) Check(context.Context) error { return nil }

func (d *destination) Write(ctx context.Context, req sdk.WriteRequest, it sdk.BatchIterator) error {
	verify := d.cfg.Verify == nil || *d.cfg.Verify
	var cols []column
	if req.Schema != nil {
		var err error
		if cols, err = columnsOf(req.Schema); err != nil {
			return sdk.SchemaError(err)
		}
	}
	batches := 0
	for {
		v, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if verify {
			idc := v.Column(0)
			for r := 0; r < v.Rows(); r++ {
				id := idc.Int64(r)
				for c := range cols {
					if err := cols[c].check(v.Column(c), r, id); err != nil {
						return sdk.DataError(err, sdk.WithCode("mismatch"))
					}
				}
			}
		}
		d.rows += int64(v.Rows())
		batches++
		if batches%d.cfg.CommitEvery == 0 {
			if err := it.Commit(); err != nil {
				return err
			}
		}
	}
	if d.cfg.ExpectRows > 0 && d.rows != d.cfg.ExpectRows {
		return sdk.DataError(fmt.Errorf("received %d rows, expected %d", d.rows, d.cfg.ExpectRows), sdk.WithCode("row_count"))
	}
	sdk.Log(ctx, abi.LogInfo, "destination done", "rows", d.rows, "batches", batches)
	return it.Commit()
}

func (d *destination) Close(context.Context) error { return nil }
