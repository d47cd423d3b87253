package pgconnector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/cdc"
	"github.com/rapidbyte/rapidbyte/connectors/internal/dest"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// CDCConfig is the change data capture part of the source config.
type CDCConfig struct {
	// ReplicationSlot is the pipeline's logical replication slot, created
	// when missing; default rapidbyte_<pipeline>.
	ReplicationSlot string `json:"replication_slot,omitempty"`
	// Publication is the publication of the pipeline's cdc tables, created
	// when missing; default rapidbyte_<pipeline>.
	Publication string `json:"publication,omitempty"`
}

// names returns the slot and publication of pipeline.
func (c CDCConfig) names(pipeline string) (slot, pub string, err error) {
	slot, pub = c.ReplicationSlot, c.Publication
	if slot == "" {
		slot = cdc.DefaultName(pipeline)
	}
	if pub == "" {
		pub = cdc.DefaultName(pipeline)
	}
	for _, n := range []string{slot, pub} {
		if !cdc.ValidName(n) {
			return "", "", sdk.ConfigError(fmt.Errorf("config: %q is not a valid slot or publication name (lower-case letters, digits and _, at most 63)", n),
				sdk.WithCode("invalid_field"))
		}
	}
	return slot, pub, nil
}

// addCDCMode lists cdc among the sync modes of keyed tables when the
// server runs with wal_level=logical.
func (s *Source) addCDCMode(ctx context.Context, cat *abi.Catalog) {
	if !cdc.ServesCDC(ctx, s.conn) {
		return
	}
	for i := range cat.Streams {
		cat.Streams[i].SupportedSyncModes = append(cat.Streams[i].SupportedSyncModes, abi.SyncCDC)
	}
}

// checkCDC verifies, when the config names a replication slot, that the
// server serves logical replication to this role and that the slot (when
// it exists) is healthy.
func (s *Source) checkCDC(ctx context.Context) error {
	if s.cdc.ReplicationSlot == "" {
		return nil
	}
	slot, _, err := s.cdc.names("")
	if err != nil {
		return err
	}
	if err := cdc.CheckServer(ctx, s.conn); err != nil {
		return s.cdcError(fmt.Errorf("check: %w", err))
	}
	if err := cdc.CheckSlot(ctx, s.conn, slot); err != nil {
		return s.cdcError(fmt.Errorf("check: %w", err))
	}
	return nil
}

// readCDC reads the pipeline's change stream; the stream's columns list
// its tables.
func (s *Source) readCDC(ctx context.Context, req sdk.ReadRequest, e sdk.Emitter) error {
	slot, pub, err := s.cdc.names(req.Stream.Pipeline)
	if err != nil {
		return err
	}
	if err := cdc.CheckServer(ctx, s.conn); err != nil {
		return s.cdcError(err)
	}
	r := cdc.Request{Slot: slot, Publication: pub, Resume: req.Resume}
	if n := req.Stream.Limits.CheckpointIntervalSeconds; n > 0 {
		r.CheckpointInterval = time.Duration(n) * time.Second
	}
	if n := req.Stream.Limits.CheckpointIntervalRows; n > 0 {
		r.CheckpointRows = int(n)
	}
	if req.Stream.Follow {
		r.Follow = true
		r.Control = func(ctx context.Context) (abi.FollowState, error) {
			st, ok, err := sdk.FollowState(ctx)
			if err == nil && !ok {
				err = sdk.InternalError(errors.New("this worker does not serve follow reads (follow_state)"), sdk.WithCode("no_follow"))
			}
			return st, err
		}
	}
	if len(req.Stream.Columns) == 0 {
		return sdk.ConfigError(errors.New("the change stream names no tables"), sdk.WithCode("invalid_stream"))
	}
	for _, name := range req.Stream.Columns {
		schema, table := cdc.SplitTable(name, s.cfg.Schema)
		t, err := cdc.LoadTable(ctx, s.conn, schema, table, req.Stream.PrimaryKey)
		if err != nil {
			return s.cdcError(err)
		}
		r.Tables = append(r.Tables, t)
	}
	repl, err := pgclient.ConnectReplication(ctx, s.cfg, dialer)
	if err != nil {
		return classify(fmt.Errorf("open replication connection: %w", err), s.cfg.Password, false)
	}
	defer func() { _ = repl.Close(context.WithoutCancel(ctx)) }()
	st, err := cdc.Read(ctx, s.conn, repl, r, e)
	if err != nil {
		return s.cdcError(fmt.Errorf("read change stream: %w", err))
	}
	sdk.Log(ctx, abi.LogInfo, "change stream read", "slot", slot, "snapshot", st.Snapshot, "changes", st.Records,
		"transactions", st.Commits, "checkpoints", st.Checkpoints, "from", st.Start.String(), "to", st.End.String())
	return nil
}

// Release implements sdk.Releaser: it drops the pipeline's replication
// slot and publication, refusing while a connection streams from the slot.
func (s *Source) Release(ctx context.Context, pipeline string) (string, error) {
	slot, pub, err := s.cdc.names(pipeline)
	if err != nil {
		return "", err
	}
	st, err := cdc.Drop(ctx, s.conn, slot, pub)
	if err != nil {
		return "", s.cdcError(fmt.Errorf("drop change stream: %w", err))
	}
	return st, nil
}

// cdcError classifies the cdc package's errors.
func (s *Source) cdcError(err error) error {
	switch {
	case errors.Is(err, cdc.ErrSlotLost):
		return sdk.ConfigError(err, sdk.WithCode("slot_lost"),
			sdk.WithHint("the changes since the last checkpoint are gone: run 'rapidbyte cdc drop PIPELINE.yaml' (drops the slot and publication and forgets the cdc cursor), then run again to take a new snapshot"))
	case errors.Is(err, cdc.ErrSlotBusy):
		return sdk.TransientDBError(err, sdk.WithCode("slot_busy"))
	case errors.Is(err, cdc.ErrSchema):
		return sdk.SchemaError(err, sdk.WithCode("schema_change"))
	case errors.Is(err, cdc.ErrConfig):
		return sdk.ConfigError(err, sdk.WithCode("cdc_config"))
	}
	return classify(err, s.cfg.Password, false)
}

// applyCDC applies the pipeline's change stream.
func (d *Destination) applyCDC(ctx context.Context, req sdk.WriteRequest, it sdk.BatchIterator) error {
	r := dest.ApplyRequest{Schema: d.cfg.Schema, Pipeline: req.Stream.Pipeline, SoftDelete: d.cfg.SoftDelete, NewColumn: req.Stream.NewColumn, Tables: req.Stream.Columns}
	st, err := dest.Apply(ctx, d.conn, r, it)
	if err != nil {
		return classify(fmt.Errorf("apply change stream: %w", err), d.cfg.Password, true)
	}
	sdk.Log(ctx, abi.LogInfo, "change stream applied", "changes", st.Changes, "skipped", st.Skipped, "commits", st.Commits)
	return nil
}
