package relay

import (
	"context"
	"errors"
	"fmt"
	"io"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// SnapshotCursor is the cursor_field of the checkpoint by which a source
// holding a snapshot for a stream's partitions names it.
const SnapshotCursor = "snapshot"

// ErrNoSnapshot is returned by HoldSnapshot when the source does not hold
// snapshots: it answered with rows instead of a snapshot id.
var ErrNoSnapshot = errors.New("the source does not export snapshots")

// HoldSnapshot asks a source worker to export and hold one snapshot for the
// partitions of job's stream (a Read whose Partition sets export_snapshot),
// and returns the snapshot's id. The snapshot is held until release is
// called (or ctx ends); release is idempotent. Partitions started with
// Job.Snapshot set to the id read in that snapshot.
func (rl *Relayer) HoldSnapshot(ctx context.Context, job Job) (id string, release func(), err error) {
	read, _, err := Tickets(job)
	if err != nil {
		return "", nil, err
	}
	read.Stream.Partition = &rapidbytev1.Partition{Count: uint32(job.PartitionCount), Key: job.Stream.PartitionKey, ExportSnapshot: true}
	read.Resume = nil
	ticket, err := proto.Marshal(read)
	if err != nil {
		return "", nil, runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode snapshot ticket of %q: %v", job.Stream.Name, err)
	}
	msg, err := proto.Marshal(&flightpb.Ticket{Ticket: ticket})
	if err != nil {
		return "", nil, runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode snapshot ticket of %q: %v", job.Stream.Name, err)
	}
	hctx, cancel := context.WithCancel(ctx)
	what := fmt.Sprintf("snapshot of stream %q", job.Stream.Name)
	get, addr, err := rl.pool.OpenStream(hctx, &doGetDesc, methodDoGet, job.Avoid, "", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		cancel()
		return "", nil, workerpool.FromStatus(ctx, "open "+what, err)
	}
	// A failed CloseSend fails the snapshot too (the err of an if-scoped
	// SendMsg used to shadow it).
	if err = get.SendMsg(&frame{b: msg}); err == nil {
		err = get.CloseSend()
	}
	if err != nil {
		cancel()
		return "", nil, workerpool.FromStatus(ctx, "hold "+what+" on "+addr, err)
	}
	for {
		f := new(frame)
		err := get.RecvMsg(f)
		if errors.Is(err, io.EOF) {
			cancel()
			return "", nil, fmt.Errorf("hold %s on %s: %w (the read ended)", what, addr, ErrNoSnapshot)
		}
		if err != nil {
			cancel()
			return "", nil, workerpool.FromStatus(ctx, "hold "+what+" on "+addr, err)
		}
		header, appMeta, err := f.fields()
		isBatch := err == nil && messageType(header) == headerRecordBatch
		var meta rapidbytev1.BatchMeta
		if err == nil && len(appMeta) > 0 {
			err = proto.Unmarshal(appMeta, &meta)
		}
		f.release()
		if err != nil {
			cancel()
			return "", nil, runerr.New(runerr.CategoryInternal, "BAD_FLIGHT_DATA", "hold %s on %s: %v", what, addr, err)
		}
		if !isBatch {
			continue // the schema
		}
		cp := meta.GetCheckpoint()
		if meta.GetRecords() > 0 || cp.GetCursorField() != SnapshotCursor || cp.GetCursorValue().GetStringValue() == "" {
			cancel()
			return "", nil, fmt.Errorf("hold %s on %s: %w", what, addr, ErrNoSnapshot)
		}
		return cp.GetCursorValue().GetStringValue(), cancel, nil
	}
}
