package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/contract"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// CopyStream runs one stream's read and write on this worker: the source
// guest's batches go to the destination guest through a bounded in-memory
// queue (copyQueueBytes), never serialized, and the caller receives what it
// would have read in the Flight messages' app_metadata (a BatchMeta per
// batch), how the read ended (ReadEnd) and the destination's WriteAcks.
//
// Both halves are admitted together (runner.AdmitCopy: one guest slot,
// both memory reservations at once). A half that fails cancels the other.
// A read that fails is reported in ReadEnd.error, and the call then ends
// with the same status. A read that ends because the write failed reports
// no error, unless its own deadline passed too (a source stalled in a loop
// starves its destination, which then times out first): then both
// verdicts reach the coordinator, which weighs them as it does for a
// relayed stream. The call's status is otherwise the write's outcome. A
// source that emits no batch at all leaves nothing to write: the write
// never starts and the call succeeds with no ack. Halves whose memory
// caps together exceed the worker's whole budget are refused before any
// event (copyOverBudget).
func (s *WorkerServer) CopyStream(stream rbv1.WorkerService_CopyStreamServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetRead() == nil || first.GetWrite() == nil {
		return toStatus(s.log, invalidf("the first CopyStream message must carry both a read and a write ticket"))
	}
	readReq, err := streamRequest(first.GetRead())
	if err != nil {
		return toStatus(s.log, err)
	}
	writeReq, err := streamRequest(first.GetWrite())
	if err != nil {
		return toStatus(s.log, err)
	}
	if readReq.Stream.Follow {
		fc := &followControl{}
		readReq.Follow = fc
		go func() {
			for {
				msg, err := stream.Recv()
				if err != nil {
					return
				}
				fc.apply(msg.GetFollow(), s.log)
			}
		}()
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	readAdm, writeAdm, err := s.svc.AdmitCopy(ctx, readReq, writeReq)
	if err != nil {
		return toStatus(s.log, err)
	}
	out := &copyOutput{stream: stream}
	maxBatches := int(first.GetMaxInflightBatches())
	if maxBatches == 0 {
		maxBatches = defaultCopyQueueBatches
	}
	q := newBatchQueue(ctx, copyQueueBytes, maxBatches)
	readDone := make(chan error, 1)
	go func() { readDone <- s.copyRead(ctx, cancel, readAdm, readReq, out, q) }()

	if !q.waitFirst() {
		writeAdm.Release()
		if readStatus := <-readDone; readStatus != nil {
			return readStatus
		}
		return toStatus(s.log, context.Cause(ctx))
	}
	src := &copySource{q: q}
	acks := &acker{send: out.sendAck, loadMs: &src.loadMs}
	res, err := s.svc.WriteAdmitted(ctx, writeAdm, writeReq, src, acks.ack)
	if err == nil {
		err = acks.final(res)
	}
	if err != nil {
		cancel(errWriteFailed)
	}
	q.abandon()
	readStatus := <-readDone
	if readStatus != nil && errors.Is(context.Cause(ctx), errReadFailed) {
		return readStatus
	}
	return toStatus(s.log, err)
}

// copyRead runs a copy's read into q and reports its end on out; a failed
// read cancels the copy. It returns the read's status error, nil when it
// succeeded.
func (s *WorkerServer) copyRead(ctx context.Context, cancel context.CancelCauseFunc, adm *runner.Admission, req runner.StreamRequest, out *copyOutput, q *batchQueue) error {
	res, err := s.readRecovered(ctx, adm, req, &copySink{out: out, q: q})
	if err != nil {
		// Before the write can learn of the failure from the queue, so
		// that its consequent failure cannot pass for the first.
		cancel(errReadFailed)
	}
	q.finish(err)
	end := &rbv1.ReadEnd{}
	var readStatus error
	if err != nil {
		readStatus = toStatus(s.log, err)
		if !errors.Is(context.Cause(ctx), errWriteFailed) || isDeadlineVerdict(err) {
			st, _ := status.FromError(readStatus)
			end.Error, _ = proto.Marshal(st.Proto())
		}
	} else {
		end.Phases = phasesToProto(res.Phases)
	}
	// A failed send means the caller is gone, which the call's end reports.
	_ = out.send(&rbv1.CopyStreamResponse{ReadEnd: end})
	return readStatus
}

// readRecovered is svc.ReadAdmitted with a panic turned into an error:
// the read runs on a goroutine of its own, where the server's recovery
// interceptor does not reach, and a bug there must fail the copy, not the
// worker.
func (s *WorkerServer) readRecovered(ctx context.Context, adm *runner.Admission, req runner.StreamRequest, sink *copySink) (res runner.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("copy read panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return s.svc.ReadAdmitted(ctx, adm, req, sink)
}

// Causes with which a copy cancels its other half.
var (
	errReadFailed  = errors.New("the read failed")
	errWriteFailed = errors.New("the write failed")
)

// isDeadlineVerdict reports whether err is a half's verdict on its own
// deadline: the guest returned at its deadline, or ignored it and was
// abandoned, or the deadline passed in the host.
func isDeadlineVerdict(err error) bool {
	var ge *guest.Error
	if errors.As(err, &ge) {
		return ge.Envelope.Code == wasmhost.CodeDeadline || ge.Envelope.Code == wasmhost.CodeUnresponsive
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// copyQueueBytes bounds the batch bytes queued between a copy's read and
// its write (a larger batch still passes when nothing is queued), as the
// relay's queue does between two workers; a request's
// max_inflight_batches (default defaultCopyQueueBatches) bounds their
// number.
const (
	copyQueueBytes          = 4 << 20
	defaultCopyQueueBatches = 16
)

// copyOverBudget is the ConnectorError code of a CopyStream refused
// because the stream's halves cannot share this worker's memory budget
// (runner.ErrCopyOverBudget); worker.proto documents it for the coordinator.
const copyOverBudget = "COPY_OVER_BUDGET"

// copyOutput serialises a copy's sends: the read and the destination's
// acks send from their own goroutines.
type copyOutput struct {
	mu     sync.Mutex
	stream rbv1.WorkerService_CopyStreamServer
}

func (c *copyOutput) send(m *rbv1.CopyStreamResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream.Send(m)
}

func (c *copyOutput) sendAck(ack *rbv1.WriteAck) error {
	if err := c.send(&rbv1.CopyStreamResponse{Ack: ack}); err != nil {
		return fmt.Errorf("send write ack: %w", err)
	}
	return nil
}

// copySink is a copy's guest.ReadSink: it reports each batch to the caller,
// then queues it for the write.
type copySink struct {
	ctx     context.Context // the read's, ending at its deadline (StreamContext)
	out     *copyOutput
	q       *batchQueue
	loadMs  float64
	started bool
}

// ModuleLoaded implements runner.ModuleLoadObserver.
func (s *copySink) ModuleLoaded(d time.Duration) { s.loadMs = float64(d.Microseconds()) / 1000 }

// StreamContext implements runner.ContextObserver.
func (s *copySink) StreamContext(ctx context.Context) { s.ctx = ctx }

// Batch implements guest.ReadSink. The queue owns rec from here on.
func (s *copySink) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	rec, err := unsliced(rec)
	if err != nil {
		return err
	}
	n := int(contract.Size(rec))
	meta := &rbv1.BatchMeta{Records: uint64(rec.NumRows()), Bytes: uint64(n), Checkpoint: protoconv.CheckpointToProto(cp)}
	if !s.started {
		meta.ModuleLoadMs = s.loadMs
		s.started = true
	}
	if err := s.out.send(&rbv1.CopyStreamResponse{Batch: meta}); err != nil {
		rec.Release()
		return fmt.Errorf("send batch metadata: %w", err)
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background() // the copy's own context still ends the wait
	}
	return s.q.push(ctx, rec, cp, n)
}

// unsliced returns rec with every column starting at its buffers' first
// value, copying the columns that do not. A batch the host split to
// enforce the stream's limits (contract.Sink) is a slice of the batch the
// source emitted, and a destination guest's Arrow buffers have no offset;
// the Flight path compacts such slices when it serializes them. It takes
// over rec.
func unsliced(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	sliced := false
	for _, c := range rec.Columns() {
		sliced = sliced || c.Data().Offset() != 0
	}
	if !sliced {
		return rec, nil
	}
	defer rec.Release()
	cols := make([]arrow.Array, 0, rec.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, c := range rec.Columns() {
		if c.Data().Offset() == 0 {
			c.Retain()
			cols = append(cols, c)
			continue
		}
		cp, err := array.Concatenate([]arrow.Array{c}, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("compact a sliced column: %w", err)
		}
		cols = append(cols, cp)
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}

// copySource is a copy's guest.WriteSource.
type copySource struct {
	q      *batchQueue
	loadMs float64
}

// ModuleLoaded implements runner.ModuleLoadObserver.
func (s *copySource) ModuleLoaded(d time.Duration) { s.loadMs = float64(d.Microseconds()) / 1000 }

// Next implements guest.WriteSource.
func (s *copySource) Next(ctx context.Context) (arrow.RecordBatch, *abi.Checkpoint, error) {
	return s.q.pop(ctx)
}

// errSourceFailed ends a copy's write when its read failed.
var errSourceFailed = errors.New("the source's read failed")

// batchQueue hands a copy's batches from its read to its write, within a
// byte bound.
type batchQueue struct {
	mu        sync.Mutex
	cond      sync.Cond
	items     []queuedBatch
	bytes     int
	limit     int // bytes
	maxItems  int
	finished  bool  // the read ended
	readErr   error // why, when it failed
	abandoned bool  // the write ended: drop what comes
	ctxDone   bool
}

type queuedBatch struct {
	rec arrow.RecordBatch
	cp  *abi.Checkpoint
	n   int
}

// newBatchQueue returns a queue of at most limit bytes and maxItems
// batches whose waits end with ctx.
func newBatchQueue(ctx context.Context, limit, maxItems int) *batchQueue {
	q := &batchQueue{limit: limit, maxItems: maxItems}
	q.cond.L = &q.mu
	context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.ctxDone = true
		q.mu.Unlock()
		q.cond.Broadcast()
	})
	return q
}

// push queues rec (n bytes), waiting for room; it releases rec instead when
// the write has ended, the copy is cancelled or ctx (the read's) ends.
func (q *batchQueue) push(ctx context.Context, rec arrow.RecordBatch, cp *abi.Checkpoint, n int) error {
	stop := q.wakeOnDone(ctx)
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 && (q.bytes+n > q.limit || len(q.items) >= q.maxItems) && !q.abandoned && !q.ctxDone && ctx.Err() == nil {
		q.cond.Wait()
	}
	if err := ctx.Err(); err != nil && !q.abandoned {
		rec.Release()
		return err
	}
	if q.abandoned || q.ctxDone {
		rec.Release()
		return context.Canceled
	}
	q.items = append(q.items, queuedBatch{rec: rec, cp: cp, n: n})
	q.bytes += n
	q.cond.Broadcast()
	return nil
}

// pop returns the next batch; io.EOF once the read has ended and every
// batch was taken, errSourceFailed when the read failed.
func (q *batchQueue) pop(ctx context.Context) (arrow.RecordBatch, *abi.Checkpoint, error) {
	// ctx (the write's, with its deadline) ends the wait too.
	stop := q.wakeOnDone(ctx)
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.finished && !q.ctxDone && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.finished && q.readErr != nil {
		return nil, nil, errSourceFailed
	}
	if len(q.items) > 0 {
		b := q.items[0]
		q.items[0] = queuedBatch{}
		q.items = q.items[1:]
		q.bytes -= b.n
		q.cond.Broadcast()
		return b.rec, b.cp, nil
	}
	if q.finished {
		return nil, nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return nil, nil, context.Canceled
}

// wakeOnDone wakes the queue's waiters when ctx ends; taking the lock
// before waking them means a waiter that checked ctx cannot miss it. The
// returned stop undoes it.
func (q *batchQueue) wakeOnDone(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
}

// waitFirst waits until a batch is queued (true) or the read ended without
// one or the copy was cancelled (false).
func (q *batchQueue) waitFirst() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.finished && !q.ctxDone {
		q.cond.Wait()
	}
	return len(q.items) > 0
}

// finish records the end of the read (err nil for success).
func (q *batchQueue) finish(err error) {
	q.mu.Lock()
	q.finished, q.readErr = true, err
	q.mu.Unlock()
	q.cond.Broadcast()
}

// abandon ends the write's use of the queue: queued and later batches are
// released.
func (q *batchQueue) abandon() {
	q.mu.Lock()
	q.abandoned = true
	items := q.items
	q.items, q.bytes = nil, 0
	q.mu.Unlock()
	q.cond.Broadcast()
	for _, b := range items {
		b.rec.Release()
	}
}

// Interface checks.
var (
	_ guest.ReadSink            = (*copySink)(nil)
	_ guest.WriteSource         = (*copySource)(nil)
	_ runner.ModuleLoadObserver = (*copySink)(nil)
	_ runner.ContextObserver    = (*copySink)(nil)
)
