package relay

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// Job is one stream (or one partition of it) of one run attempt.
type Job struct {
	// RunID and Attempt (from 1) identify the attempt.
	RunID   string
	Attempt int
	// Pipeline is the parsed pipeline; its configs are not used (see
	// SourceConfig and DestConfig).
	Pipeline *pipeline.Pipeline
	// Stream is the stream to relay.
	Stream pipeline.StreamConfig
	// PartitionIndex and PartitionCount select one partition; a count of 0
	// or 1 relays the whole stream.
	PartitionIndex, PartitionCount int
	// SourceConfig and DestConfig are the connector configs with ${VAR}
	// references resolved. They go only into the tickets.
	SourceConfig, DestConfig map[string]any
	// SourceDigest and DestDigest, when set, pin the modules ("sha256:<hex>").
	SourceDigest, DestDigest string
	// Resume is the checkpoint to continue after, or nil to start over.
	Resume *store.Checkpoint
	// Timeout is the deadline the workers enforce on the read and the
	// write; the relay itself waits workerpool.PoolConfig.VerdictGrace longer for
	// their verdict.
	// 0 means none.
	Timeout time.Duration
	// Avoid lists worker addresses not to use when another worker is
	// available (the workers of a failed previous attempt).
	Avoid []string
	// Snapshot, for a partition, is the exported snapshot (HoldSnapshot)
	// that all partitions of the stream read in; "" for none.
	Snapshot string
	// Follow, for a change stream, makes the read follow: it runs until
	// Follow.Stop, and learns through Follow what was persisted.
	Follow *Follow
}

// Relayer relays jobs' streams between the workers of a pool.
type Relayer struct {
	pool *workerpool.Pool
	// copyRefused is when a worker last refused a CopyStream as
	// unimplemented (Unix nanoseconds, 0 for never); see copyTickets.
	copyRefused atomic.Int64
}

// New returns a Relayer that opens its streams on pool.
func New(pool *workerpool.Pool) *Relayer { return &Relayer{pool: pool} }

// Relay runs one job: it builds the read and write tickets and relays the
// stream between workers (see Result for what it reports). onProgress, if
// set, is called after every message and acknowledgement, never concurrently.
func (rl *Relayer) Relay(ctx context.Context, job Job, onProgress func(Progress)) (Result, error) {
	read, write, err := Tickets(job)
	if err != nil {
		return Result{}, err
	}
	parent, until := ctx, time.Now().Add(job.Timeout+rl.pool.VerdictGrace())
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	res, err := rl.relayTickets(ctx, read, write, job.Pipeline.Resources.MaxInflightBatches, job.Avoid, job.Follow, onProgress)
	// The stream may end with the worker's view of the deadline (it is
	// propagated) a moment before ctx reports it: go by the clock.
	if err != nil && job.Timeout > 0 && parent.Err() == nil && !time.Now().Before(until) {
		// A worker that enforces the deadline answers within its cancel
		// grace. One that stays silent the verdict grace past it is frozen: a
		// guest spinning without host calls blocks the Go runtime's
		// stop-the-world, so its worker stops answering at its next GC.
		// Retrying would freeze the next worker the same way.
		err = &runerr.ConnectorError{
			Category: runerr.CategoryInternal, Code: runerr.CodeUnresponsive,
			Message: fmt.Sprintf("stream %q: no worker reported within %s of the %s deadline (%v); a connector stuck in a loop freezes its worker",
				job.Stream.Name, rl.pool.VerdictGrace(), job.Timeout, err),
			Hint: unresponsiveHint,
		}
	}
	return res, err
}

// unresponsiveHint is the hint of a runaway guest's error.
const unresponsiveHint = "the connector ran past resources.timeout_seconds without returning (a loop that ignores cancellation); " +
	"it is not retried, since every retry would hang another worker: fix the connector, or raise resources.timeout_seconds " +
	"if the work is legitimately that long; restart the worker it ran on if it does not recover"

// Tickets builds the ReadTicket and WriteTicket of a job.
func Tickets(job Job) (*rapidbytev1.ReadTicket, *rapidbytev1.WriteTicket, error) {
	p := job.Pipeline
	if p == nil {
		return nil, nil, runerr.New(runerr.CategoryInternal, "NO_PIPELINE", "job for stream %q has no pipeline", job.Stream.Name)
	}
	srcCfg, err := structpb.NewStruct(job.SourceConfig)
	if err != nil {
		return nil, nil, runerr.New(runerr.CategoryConfig, "BAD_CONFIG", "source config: %v", err)
	}
	dstCfg, err := structpb.NewStruct(job.DestConfig)
	if err != nil {
		return nil, nil, runerr.New(runerr.CategoryConfig, "BAD_CONFIG", "destination config: %v", err)
	}
	resume := protoconv.CheckpointToProto(job.Resume)
	spec := streamSpec(p, job)
	timeout := uint32(job.Timeout / time.Second)
	read := &rapidbytev1.ReadTicket{
		RunId:          job.RunID,
		Attempt:        uint32(job.Attempt),
		Connector:      &rapidbytev1.ConnectorRef{Id: p.Source.Use.ID, Version: p.Source.Use.Version, Digest: job.SourceDigest},
		Config:         srcCfg,
		Stream:         spec,
		Resume:         resume,
		AllowedHosts:   p.AllowedHosts(p.Source.Permissions),
		TimeoutSeconds: timeout,
	}
	write := &rapidbytev1.WriteTicket{
		RunId:          job.RunID,
		Attempt:        uint32(job.Attempt),
		Connector:      &rapidbytev1.ConnectorRef{Id: p.Destination.Use.ID, Version: p.Destination.Use.Version, Digest: job.DestDigest},
		Config:         dstCfg,
		Stream:         spec,
		Resume:         resume,
		AllowedHosts:   p.AllowedHosts(p.Destination.Permissions),
		TimeoutSeconds: timeout,
	}
	return read, write, nil
}

// StreamSpec returns the spec the destination writes stream s of p with
// (unpartitioned), as `check` hands it to the destination for its drift
// report.
func StreamSpec(p *pipeline.Pipeline, s pipeline.StreamConfig) *rapidbytev1.StreamSpec {
	return streamSpec(p, Job{Stream: s})
}

func streamSpec(p *pipeline.Pipeline, job Job) *rapidbytev1.StreamSpec {
	s := job.Stream
	r := p.Resources
	spec := &rapidbytev1.StreamSpec{
		Namespace:       s.Namespace,
		Name:            s.Name,
		SyncMode:        syncModes[s.SyncMode],
		CursorField:     s.CursorField,
		TieBreakerField: s.TieBreakerField,
		Columns:         s.Columns,
		WriteMode:       writeModes[p.Destination.WriteMode],
		PrimaryKey:      p.Destination.PrimaryKey,
		Limits: &rapidbytev1.Limits{
			MaxBatchBytes:             r.MaxBatchBytes,
			MaxBatchRows:              uint32(max(r.MaxBatchRows, 0)),
			CheckpointIntervalRows:    r.CheckpointIntervalRows,
			CheckpointIntervalBytes:   r.CheckpointIntervalBytes,
			CheckpointIntervalSeconds: uint32(max(r.CheckpointIntervalSeconds, 0)),
			MaxMemoryBytes:            r.MaxMemory,
		},
		OnDataError:       dataErrorPolicies[p.Destination.OnDataError],
		NewColumn:         newColumnPolicies[p.Destination.SchemaEvolution.NewColumn],
		RemovedColumn:     removedColumnPolicies[p.Destination.SchemaEvolution.RemovedColumn],
		TypeChange:        typeChangePolicies[p.Destination.SchemaEvolution.TypeChange],
		NullabilityChange: nullabilityPolicies[p.Destination.SchemaEvolution.NullabilityChange],
		MaxFailedRecords:  p.Destination.MaxFailedRecords,
		DestinationTable:  s.DestinationTable,
		Pipeline:          p.Name,
		Follow:            job.Follow != nil,
	}
	if spec.SyncMode == rapidbytev1.SyncMode_SYNC_MODE_UNSPECIFIED {
		spec.SyncMode = rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH
	}
	if spec.WriteMode == rapidbytev1.WriteMode_WRITE_MODE_UNSPECIFIED {
		spec.WriteMode = rapidbytev1.WriteMode_WRITE_MODE_APPEND
	}
	if job.PartitionCount > 1 {
		spec.Partition = &rapidbytev1.Partition{Index: uint32(job.PartitionIndex), Count: uint32(job.PartitionCount), Key: s.PartitionKey,
			Snapshot: job.Snapshot}
	}
	return spec
}

var syncModes = map[pipeline.SyncMode]rapidbytev1.SyncMode{
	pipeline.SyncFullRefresh: rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH,
	pipeline.SyncIncremental: rapidbytev1.SyncMode_SYNC_MODE_INCREMENTAL,
	pipeline.SyncCDC:         rapidbytev1.SyncMode_SYNC_MODE_CDC,
}

var writeModes = map[pipeline.WriteMode]rapidbytev1.WriteMode{
	pipeline.WriteAppend:  rapidbytev1.WriteMode_WRITE_MODE_APPEND,
	pipeline.WriteReplace: rapidbytev1.WriteMode_WRITE_MODE_REPLACE,
	pipeline.WriteUpsert:  rapidbytev1.WriteMode_WRITE_MODE_UPSERT,
}

var dataErrorPolicies = map[pipeline.DataErrorPolicy]rapidbytev1.DataErrorPolicy{
	pipeline.OnDataErrorFail: rapidbytev1.DataErrorPolicy_DATA_ERROR_POLICY_FAIL,
	pipeline.OnDataErrorSkip: rapidbytev1.DataErrorPolicy_DATA_ERROR_POLICY_SKIP,
	pipeline.OnDataErrorDLQ:  rapidbytev1.DataErrorPolicy_DATA_ERROR_POLICY_DLQ,
}

var newColumnPolicies = map[pipeline.NewColumnPolicy]rapidbytev1.NewColumnPolicy{
	pipeline.NewColumnAdd:    rapidbytev1.NewColumnPolicy_NEW_COLUMN_POLICY_ADD,
	pipeline.NewColumnIgnore: rapidbytev1.NewColumnPolicy_NEW_COLUMN_POLICY_IGNORE,
	pipeline.NewColumnFail:   rapidbytev1.NewColumnPolicy_NEW_COLUMN_POLICY_FAIL,
}

var removedColumnPolicies = map[pipeline.RemovedColumnPolicy]rapidbytev1.RemovedColumnPolicy{
	pipeline.RemovedColumnIgnore: rapidbytev1.RemovedColumnPolicy_REMOVED_COLUMN_POLICY_IGNORE,
	pipeline.RemovedColumnFail:   rapidbytev1.RemovedColumnPolicy_REMOVED_COLUMN_POLICY_FAIL,
}

var typeChangePolicies = map[pipeline.TypeChangePolicy]rapidbytev1.TypeChangePolicy{
	pipeline.TypeChangeCoerce: rapidbytev1.TypeChangePolicy_TYPE_CHANGE_POLICY_COERCE,
	pipeline.TypeChangeFail:   rapidbytev1.TypeChangePolicy_TYPE_CHANGE_POLICY_FAIL,
	pipeline.TypeChangeNull:   rapidbytev1.TypeChangePolicy_TYPE_CHANGE_POLICY_NULL,
}

var nullabilityPolicies = map[pipeline.NullabilityChangePolicy]rapidbytev1.NullabilityChangePolicy{
	pipeline.NullabilityAllow: rapidbytev1.NullabilityChangePolicy_NULLABILITY_CHANGE_POLICY_ALLOW,
	pipeline.NullabilityFail:  rapidbytev1.NullabilityChangePolicy_NULLABILITY_CHANGE_POLICY_FAIL,
}
