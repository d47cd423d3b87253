package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// copyStreamDesc describes the worker's CopyStream: a stream's read and write on
// one worker, the data passing between them in the worker's memory.
var copyStreamDesc = grpc.StreamDesc{StreamName: "CopyStream", ServerStreams: true, ClientStreams: true}

// copyRetryAfter is how long after a worker refused a CopyStream the
// relayer relays streams instead of trying again.
const copyRetryAfter = time.Minute

// copyOverBudgetCode is the ConnectorError code of a worker refusing a
// CopyStream whose two halves its memory budget cannot hold at once
// (worker.proto).
const copyOverBudgetCode = "COPY_OVER_BUDGET"

// copyRefusal is why a worker refused a CopyStream before any event.
type copyRefusal int

const (
	copyAccepted copyRefusal = iota
	// copyUnimplemented: the worker does not serve CopyStream (one older
	// than the coordinator).
	copyUnimplemented
	// copyOverBudget: the stream's halves do not fit the worker's memory
	// budget together.
	copyOverBudget
)

// refusalOf classifies the status that ended a CopyStream before its first event.
func refusalOf(err error) copyRefusal {
	st, _ := status.FromError(err)
	if st.Code() == codes.Unimplemented {
		return copyUnimplemented
	}
	for _, d := range st.Details() {
		if ce, ok := d.(*rapidbytev1.ConnectorError); ok && ce.GetCode() == copyOverBudgetCode {
			return copyOverBudget
		}
	}
	return copyAccepted
}

// refused notes a refusal of CopyStream (status err from the worker at
// addr): after copyUnimplemented the relayer relays every stream for
// copyRetryAfter, since during a rolling upgrade the next worker picked may
// be as old. After copyOverBudget it returns the error a relay that could
// find no second worker for the write ends with: retryable, since another
// worker may be ready by the next attempt.
func (rl *Relayer) refused(why copyRefusal, stream, addr string, err error) error {
	switch why {
	case copyUnimplemented:
		rl.copyRefused.Store(time.Now().UnixNano())
	case copyOverBudget:
		ce := runerr.New(runerr.CategoryRateLimit, "WORKER_BUSY",
			"%s: its read and write need more guest memory together than worker %s holds (%s), and no other worker was ready for one of them",
			stream, addr, status.Convert(err).Message())
		ce.Retryable, ce.Hint = true, "add workers, or lower resources.max_memory"
		return ce
	}
	return nil
}

// copyTickets runs one stream as a CopyStream on the least loaded worker
// (avoiding the addresses in avoid when another is ready): the worker
// reads and writes it, and the coordinator receives each batch's metadata,
// how the read ended and the destination's acks, which it records as the
// relay does (Result is the same). served is false, with nothing done,
// when the worker refused the call (see copyRefusal): the caller then
// relays the stream. After a copyOverBudget refusal err is set too: the
// relay must not put both halves on one worker (see relayTickets).
func (rl *Relayer) copyTickets(ctx context.Context, read *rapidbytev1.ReadTicket, write *rapidbytev1.WriteTicket,
	maxInflight int, avoid []string, follow *Follow, stream string, onProgress func(Progress),
) (res Result, served bool, err error) {
	if refused := rl.copyRefused.Load(); refused != 0 && time.Since(time.Unix(0, refused)) < copyRetryAfter {
		return Result{}, false, nil
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &relay{parent: ctx, cancel: cancel, start: time.Now(), stream: stream, onProgress: onProgress}
	cs, addr, err := rl.pool.OpenStream(rctx, &copyStreamDesc, rapidbytev1.WorkerService_CopyStream_FullMethodName, avoid, "")
	if err != nil {
		return r.result(), true, workerpool.FromStatus(ctx, "open "+stream, err)
	}
	if err := cs.SendMsg(&rapidbytev1.CopyStreamRequest{Read: read, Write: write, MaxInflightBatches: uint32(maxInflight)}); err != nil {
		err = recvErr(cs, err, new(rapidbytev1.CopyStreamResponse))
		if why := refusalOf(err); why != copyAccepted {
			return Result{}, false, rl.refused(why, stream, addr, err)
		}
		return r.result(), true, workerpool.FromStatus(ctx, "copy "+stream+" on "+addr, err)
	}
	control := make(chan struct{})
	// The follow sender ends before this call returns: a relay or a
	// copy that follows must not find it still taking notifications.
	defer func() { cancel(); <-control }()
	if follow != nil {
		follow.notify() // the first tells a resumed read what is persisted
		go func() {
			defer close(control)
			sendControl(rctx, follow, func(c *rapidbytev1.FollowControl) error {
				return cs.SendMsg(&rapidbytev1.CopyStreamRequest{Follow: c})
			})
		}()
	} else {
		close(control)
		if err := cs.CloseSend(); err != nil {
			return r.result(), true, workerpool.FromStatus(ctx, "copy "+stream+" on "+addr, err)
		}
	}
	r.update(func(p *Progress) { p.SourceWorker, p.DestWorker = addr, addr })

	if why, err := r.copyEvents(cs, addr); why != copyAccepted {
		return Result{}, false, rl.refused(why, stream, addr, err)
	}
	res = r.result()
	if err := r.firstErr(); err != nil {
		return res, true, err
	}
	if err := ctx.Err(); err != nil {
		return res, true, workerpool.FromStatus(ctx, stream, err)
	}
	return res, true, nil
}

// copyEvents records a CopyStream's events until it ends, and returns why
// the worker refused the call, with its status, when it ended before any
// event with a refusal.
func (r *relay) copyEvents(cs grpc.ClientStream, addr string) (copyRefusal, error) {
	defer r.recoverPanic("copy")
	first := true
	for {
		var ev rapidbytev1.CopyStreamResponse
		err := cs.RecvMsg(&ev)
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			r.writeDur = time.Since(r.start)
			early := !r.final && r.prog.MessagesRead > 0
			r.mu.Unlock()
			if early && !r.failed() {
				r.fail(runerr.New(runerr.CategoryInternal, "WRITE_ENDED_EARLY",
					"copy %s on %s: the worker ended the stream without the destination's final acknowledgement", r.stream, addr))
			}
			return copyAccepted, nil
		}
		if err != nil {
			if why := refusalOf(err); first && why != copyAccepted {
				return why, err
			}
			// After a failed read the call ends with the read's error
			// again, which record ignores (the first error stands, a
			// deadline verdict does not displace the source's); any other
			// error of the write replaces a deadline verdict of the read.
			r.fail(workerpool.FromStatus(r.parent, "write "+r.stream+" on "+addr, err))
			return copyAccepted, nil
		}
		first = false
		switch {
		case ev.GetBatch() != nil:
			meta := ev.GetBatch()
			r.update(func(p *Progress) {
				p.MessagesRead++
				p.MessagesSent++
				p.RecordsRead += meta.GetRecords()
				p.BytesRead += meta.GetBytes()
				if p.SourceModuleLoadMs == 0 {
					p.SourceModuleLoadMs = meta.GetModuleLoadMs()
				}
				p.SourceHead = max(p.SourceHead, meta.GetCheckpoint().GetLog().GetHead())
			})
		case ev.GetReadEnd() != nil:
			end := ev.GetReadEnd()
			r.mu.Lock()
			r.readDur = time.Since(r.start)
			r.srcPhases = phasesFromProto(end.GetPhases())
			r.mu.Unlock()
			if len(end.GetError()) > 0 {
				// Recorded without cancelling the call: the worker ends its
				// write itself, and the acks of what the destination
				// committed meanwhile still come, before the call's status.
				r.note(workerpool.FromStatus(r.parent, "read "+r.stream+" on "+addr, readEndError(end.GetError())), true)
			}
		case ev.GetAck() != nil:
			r.recordAck(ev.GetAck())
		}
	}
}

// readEndError is the status error a ReadEnd carries.
func readEndError(b []byte) error {
	var st spb.Status
	if err := proto.Unmarshal(b, &st); err != nil || st.GetCode() == int32(codes.OK) {
		return status.Error(codes.Internal, fmt.Sprintf("the read failed with an unreadable status (%d bytes)", len(b)))
	}
	return status.FromProto(&st).Err()
}

// recordAck records a destination's acknowledgement.
func (r *relay) recordAck(wa *rapidbytev1.WriteAck) {
	cp := protoconv.CheckpointFromProto(wa.GetCheckpoint())
	r.update(func(p *Progress) {
		p.RecordsWritten = max(p.RecordsWritten, wa.GetRecordsWritten())
		p.BytesWritten = max(p.BytesWritten, wa.GetBytesWritten())
		p.RecordsFailed = max(p.RecordsFailed, wa.GetRecordsFailed())
		if cp != nil {
			p.Checkpoint = cp
		}
		if p.DestModuleLoadMs == 0 {
			p.DestModuleLoadMs = wa.GetModuleLoadMs()
		}
	})
	if wa.GetFinal() {
		r.mu.Lock()
		r.final = true
		r.dstPhases = phasesFromProto(wa.GetPhases())
		r.mu.Unlock()
	}
}
