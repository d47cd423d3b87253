package relay

import (
	"context"
	"errors"
	"fmt"
	"io"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// ErrStopRead, returned by a Read callback, ends the read early without
// an error.
var ErrStopRead = errors.New("stop reading")

// Read reads job's stream on a worker with no destination (job's
// destination config is not used) and calls fn with each Flight message
// the source sent (schema first, then record batches) and its row count.
// fn returning ErrStopRead cancels the read and Read returns nil; any
// other error is returned as is.
func (rl *Relayer) Read(ctx context.Context, job Job, fn func(msg *flightpb.FlightData, records uint64) error) error {
	read, _, err := Tickets(job)
	if err != nil {
		return err
	}
	stream := fmt.Sprintf("stream %q", job.Stream.Name)
	ticket, err := proto.Marshal(read)
	if err != nil {
		return runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode read ticket of %s: %v", stream, err)
	}
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, job.Timeout+rl.pool.VerdictGrace())
		defer cancel()
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	get, _, err := rl.pool.OpenStream(rctx, &doGetDesc, methodDoGet, nil)
	if err != nil {
		return workerpool.FromStatus(ctx, "open "+stream, err)
	}
	if err := get.SendMsg(&flightpb.Ticket{Ticket: ticket}); err != nil {
		return workerpool.FromStatus(ctx, "read "+stream, err)
	}
	if err := get.CloseSend(); err != nil {
		return workerpool.FromStatus(ctx, "read "+stream, err)
	}
	for {
		msg := new(flightpb.FlightData)
		err := get.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return workerpool.FromStatus(ctx, "read "+stream, err)
		}
		records := uint64(0)
		if messageType(msg.GetDataHeader()) == headerRecordBatch && len(msg.GetAppMetadata()) > 0 {
			var meta rapidbytev1.BatchMeta
			if err := proto.Unmarshal(msg.GetAppMetadata(), &meta); err != nil {
				return runerr.New(runerr.CategoryInternal, "BAD_BATCH_META", "read %s: decode batch metadata: %v", stream, err)
			}
			records = meta.GetRecords()
		}
		if err := fn(msg, records); err != nil {
			if errors.Is(err, ErrStopRead) {
				return nil
			}
			return err
		}
	}
}
