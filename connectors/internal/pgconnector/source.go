// Package pgconnector plugs the PostgreSQL source and destination into the guest
// SDK: config decoding, connections over the host's sockets, batch
// adapters and error classification.
package pgconnector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/source"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/hostnet"
)

// SourceConfig is the source-postgres config.
type SourceConfig struct {
	pgclient.Config
	CDCConfig
	// FullRefreshOrder is "key" (the default) or "physical": see
	// source.OrderKey and source.OrderPhysical.
	FullRefreshOrder string `json:"full_refresh_order,omitempty"`
}

// Source is the source-postgres connector.
type Source struct {
	cfg   pgclient.Config
	cdc   CDCConfig
	order source.Order
	conn  *pgclient.Conn
}

var (
	_ sdk.Source          = (*Source)(nil)
	_ sdk.NamedDiscoverer = (*Source)(nil)
)

// NewSource returns an unopened source.
func NewSource() *Source { return &Source{} }

// dialer routes connections through the host's sockets (plain TCP natively).
var dialer = pgclient.Dialer{Dial: hostnet.Dial}

// decodeConfig decodes and validates the connection config.
func decodeConfig(raw sdk.Config, v any, c *pgclient.Config) error {
	if err := raw.Decode(v); err != nil {
		return err
	}
	*c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return sdk.ConfigError(fmt.Errorf("config: %w", err), sdk.WithCode("invalid_config"))
	}
	return nil
}

// connect opens the connection of cfg, recording the time as PhaseConnect.
func connect(ctx context.Context, cfg pgclient.Config, writing bool) (*pgclient.Conn, error) {
	start := time.Now()
	conn, err := pgclient.Connect(ctx, cfg, dialer)
	sdk.RecordPhase(ctx, sdk.PhaseConnect, time.Since(start))
	if err != nil {
		if _, named := errors.AsType[*pgclient.ConnectError](err); !named {
			err = fmt.Errorf("connect to %s:%d database %q: %w", cfg.Host, cfg.Port, cfg.Database, err)
		}
		return nil, classify(err, cfg.Password, writing)
	}
	return conn, nil
}

// Open implements sdk.Source: it validates the config and connects.
func (s *Source) Open(ctx context.Context, raw sdk.Config) error {
	var c SourceConfig
	if err := decodeConfig(raw, &c, &c.Config); err != nil {
		return err
	}
	order, err := source.ParseOrder(c.FullRefreshOrder)
	if err != nil {
		return sdk.ConfigError(fmt.Errorf("config: %w", err), sdk.WithCode("invalid_config"))
	}
	s.cfg, s.cdc, s.order = c.Config, c.CDCConfig, order
	conn, err := connect(ctx, s.cfg, false)
	if err != nil {
		return err
	}
	s.conn = conn
	return nil
}

// Discover implements sdk.Source.
func (s *Source) Discover(ctx context.Context) (*abi.Catalog, error) {
	return s.DiscoverNamed(ctx, nil)
}

// DiscoverNamed implements sdk.NamedDiscoverer: the catalog queries read
// only the named tables (all of them when names is empty).
func (s *Source) DiscoverNamed(ctx context.Context, names []string) (*abi.Catalog, error) {
	cat, err := source.Discover(ctx, s.conn, s.cfg.Schema, names)
	if err != nil {
		return nil, classify(fmt.Errorf("discover: %w", err), s.cfg.Password, false)
	}
	s.addCDCMode(ctx, &cat)
	return &cat, nil
}

// Check implements sdk.Source: the schema (when configured) must exist and
// be usable.
func (s *Source) Check(ctx context.Context) error {
	if err := check(ctx, s.conn, s.cfg, false); err != nil {
		return err
	}
	return s.checkCDC(ctx)
}

func check(ctx context.Context, conn *pgclient.Conn, cfg pgclient.Config, writing bool) error {
	if cfg.Schema == "" {
		if _, err := pgclient.Query(ctx, conn, "SELECT 1"); err != nil {
			return classify(fmt.Errorf("check: %w", err), cfg.Password, writing)
		}
		return nil
	}
	rows, err := pgclient.Query(ctx, conn,
		"SELECT has_schema_privilege(n.oid, 'USAGE') FROM pg_catalog.pg_namespace n WHERE n.nspname = $1", []byte(cfg.Schema))
	if err != nil {
		return classify(fmt.Errorf("check: %w", err), cfg.Password, writing)
	}
	switch {
	case len(rows) == 0 && !writing:
		return sdk.ConfigError(fmt.Errorf("schema %q does not exist", cfg.Schema), sdk.WithCode("3F000"))
	case len(rows) > 0 && string(rows[0][0]) != "t":
		return sdk.PermissionError(fmt.Errorf("no USAGE privilege on schema %q", cfg.Schema), sdk.WithCode("42501"))
	}
	return nil
}

// Read implements sdk.Source.
func (s *Source) Read(ctx context.Context, req sdk.ReadRequest, e sdk.Emitter) error {
	if req.Stream.SyncMode == abi.SyncCDC {
		return s.readCDC(ctx, req, e)
	}
	st, err := source.Read(ctx, s.conn, source.Request{Schema: s.cfg.Schema, Stream: req.Stream, Resume: req.Resume, Order: s.order}, &sink{e: e})
	if err != nil {
		return classify(fmt.Errorf("read stream %q: %w", req.Stream.Name, err), s.cfg.Password, false)
	}
	sdk.RecordPhase(ctx, sdk.PhaseQuery, st.Query)
	sdk.RecordPhase(ctx, sdk.PhaseFetch, st.Fetch)
	sdk.Log(ctx, abi.LogInfo, "read done", "stream", req.Stream.Name, "records", st.Records, "bytes", st.Bytes, "checkpoints", st.Checkpoints)
	return nil
}

// Close implements sdk.Source.
func (s *Source) Close(ctx context.Context) error {
	if s.conn != nil {
		_ = s.conn.Close(ctx)
		s.conn = nil
	}
	return nil
}

// sink adapts sdk.Emitter to source.Sink.
type sink struct {
	e sdk.Emitter
	b *builderBatch
}

type builderBatch struct {
	b       *batch.Builder
	writers []*colWriter
	wire    []batch.WireColumn
}

func (b *builderBatch) Writer(i int) pgarrow.Writer { return b.writers[i] }
func (b *builderBatch) Rows() int                   { return b.b.Rows() }
func (b *builderBatch) Full() bool                  { return b.b.Full() }
func (b *builderBatch) ByteSize() int               { return b.b.ByteSize() }

func (s *sink) Schema(_ context.Context, fields []abi.Field) (source.Batch, error) {
	b, err := s.e.Schema(fields)
	if err != nil {
		return nil, err
	}
	s.b = &builderBatch{b: b, writers: make([]*colWriter, len(fields))}
	for i := range fields {
		s.b.writers[i] = newColWriter(b.Column(i))
	}
	return s.b, nil
}

func (s *sink) Emit(context.Context) error { return s.e.Emit(s.b.b) }

func (s *sink) Checkpoint(_ context.Context, cp abi.Checkpoint) error { return s.e.Checkpoint(cp) }

// PrepareRows implements source.RowBatch: the builder converts the common
// types inline, and the others through their fast decoder or the generic
// one.
func (b *builderBatch) PrepareRows(types []pgarrow.Type) error {
	b.wire = make([]batch.WireColumn, len(types))
	for i := range types {
		b.wire[i] = wireColumn(&types[i], b.writers[i])
	}
	return b.b.CheckWireColumns(b.wire)
}

// AppendRows implements source.RowBatch.
func (b *builderBatch) AppendRows(rows [][]byte) (int, int, error) {
	n, err := b.b.AppendWireRows(rows, b.wire)
	if err == nil {
		return n, 0, nil
	}
	var ce *batch.ColumnError
	if !errors.As(err, &ce) {
		return 0, 0, err
	}
	switch kind := b.wire[ce.Column].Kind; {
	case errors.Is(ce.Err, batch.ErrOutOfRange) && kind == batch.WireBE64Shift:
		return 0, ce.Column, pgarrow.ErrTimestampRange
	case errors.Is(ce.Err, batch.ErrWireVersion) && kind == batch.WireVersionedBytes:
		return 0, ce.Column, pgarrow.ErrJSONBVersion
	}
	return 0, ce.Column, ce.Err
}

var _ source.RowBatch = (*builderBatch)(nil)
