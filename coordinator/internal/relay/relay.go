package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// Flight methods the relay calls.
const (
	methodDoGet = "/arrow.flight.protocol.FlightService/DoGet"
	methodDoPut = "/arrow.flight.protocol.FlightService/DoPut"
)

var (
	doGetDesc = grpc.StreamDesc{StreamName: "DoGet", ServerStreams: true}
	doPutDesc = grpc.StreamDesc{StreamName: "DoPut", ServerStreams: true, ClientStreams: true}
)

// DefaultMaxInflight is the bound on relayed messages when a job sets none.
const DefaultMaxInflight = 16

// Progress is a snapshot of one stream's progress in the current attempt.
type Progress struct {
	// RecordsRead and BytesRead count what the source emitted.
	RecordsRead, BytesRead uint64
	// MessagesRead counts Flight messages received from the source;
	// MessagesSent those handed to the destination.
	MessagesRead, MessagesSent uint64
	// RecordsWritten and BytesWritten count what the destination committed.
	RecordsWritten, BytesWritten uint64
	// RecordsFailed counts records the destination rejected (on_data_error
	// skip or dlq) up to its last commit.
	RecordsFailed uint64
	// Checkpoint is the latest checkpoint the destination acknowledged, or
	// nil. Every acknowledgement carrying a checkpoint makes a new value, so
	// callers can spot new ones by pointer (checkpoint ids may repeat).
	Checkpoint *store.Checkpoint
	// SourceWorker and DestWorker are the addresses of the workers that
	// serve the read and the write.
	SourceWorker, DestWorker string
	// SourceModuleLoadMs and DestModuleLoadMs are the workers' module load times.
	SourceModuleLoadMs, DestModuleLoadMs float64
	// SourceHead, for a change stream, is the newest source log position
	// the source reported (rapidbyte.v1.LogPosition.head) on a checkpoint.
	SourceHead uint64
}

// Result is the outcome of one relayed stream. On error it holds what was
// done before the failure (in particular the last acknowledged checkpoint).
type Result struct {
	Progress
	// Duration is the relay's wall time.
	Duration time.Duration
	// ReadDuration is the time until the source finished; WriteDuration the
	// time until the destination sent its final acknowledgement.
	ReadDuration, WriteDuration time.Duration
	// Final is true when the destination sent its final acknowledgement.
	Final bool
	// SourcePhases and DestPhases are the per-phase times the connectors
	// reported (zero when they reported none): the source's in its DoGet
	// trailer, the destination's in its final acknowledgement.
	SourcePhases, DestPhases Phases
}

// Phases are the times a connector reported per phase of one stream.
type Phases struct {
	Connect, Query, Fetch, Flush, Commit time.Duration
}

// phasesKey is the DoGet trailer with the source's phases (the worker's
// grpcapi.PhasesTrailer).
const phasesKey = "rapidbyte-phases-bin"

func phasesFromProto(p *rapidbytev1.StreamPhases) Phases {
	d := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return Phases{
		Connect: d(p.GetConnectSecs()), Query: d(p.GetQuerySecs()), Fetch: d(p.GetFetchSecs()),
		Flush: d(p.GetFlushSecs()), Commit: d(p.GetCommitSecs()),
	}
}

// relay is the state of one relayed stream.
type relay struct {
	parent     context.Context // the caller's ctx: its end means "cancelled"
	cancel     context.CancelFunc
	start      time.Time
	stream     string // names the stream in errors: stream "users" [partition i/n]
	onProgress func(Progress)

	mu                 sync.Mutex
	prog               Progress
	err                *runerr.ConnectorError
	deadline           *runerr.ConnectorError // a worker's deadline verdict (see fail)
	deadlineFromSource bool                   // deadline came from the source
	final              bool
	closeSent          bool
	skipped            bool // the source sent no message, so the write was abandoned
	readDur            time.Duration
	writeDur           time.Duration
	srcPhases          Phases
	dstPhases          Phases

	cbMu sync.Mutex // serialises onProgress calls
}

// fail records the destination's (or the relay's own) first error and
// cancels both streams; failSource does so for the source's.
//
// A deadline verdict (runerr.ConnectorError.DeadlineVerdict) is kept
// without cancelling: both workers have the same deadline, and when one
// side stalled (a source spinning in a loop), the other times out waiting
// for it at about the same moment, while the stalled side's verdict
// ("unresponsive") comes up to the worker's cancel grace later. Any other
// error replaces a deadline verdict; between two, the source's wins (its
// stall starves the destination, and a destination's timeout would claim
// an unknown commit state). The relay's ctx, workerpool.PoolConfig.VerdictGrace past the
// deadline, bounds the wait.
func (r *relay) fail(err *runerr.ConnectorError) { r.record(err, false) }

func (r *relay) failSource(err *runerr.ConnectorError) { r.record(err, true) }

func (r *relay) record(err *runerr.ConnectorError, source bool) {
	if r.note(err, source) {
		r.cancel()
	}
}

// note records err as record does, without cancelling the stream, and
// reports whether record would have cancelled it (err is not a deadline
// verdict).
func (r *relay) note(err *runerr.ConnectorError, source bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err.DeadlineVerdict() {
		if r.deadline == nil || source && !r.deadlineFromSource {
			r.deadline, r.deadlineFromSource = err, source
		}
		return false
	}
	if r.err == nil {
		r.err = err
	}
	return true
}

// recoverPanic, deferred at the top of each relay goroutine, turns a panic
// there into an internal failure of this stream (which cancels its other
// goroutines), so a bug or a malformed message cannot crash the
// coordinator and every run it holds.
func (r *relay) recoverPanic(role string) {
	if v := recover(); v != nil {
		r.fail(runerr.New(runerr.CategoryInternal, "RELAY_PANIC", "%s %s: internal error in the relay: %v", role, r.stream, v))
	}
}

// failed reports whether an error (a deadline verdict included) was recorded.
func (r *relay) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil || r.deadline != nil
}

// firstErr returns the error the relay ended with, if any.
func (r *relay) firstErr() *runerr.ConnectorError {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	return r.deadline
}

// update applies f to the progress under the lock and reports a snapshot.
func (r *relay) update(f func(p *Progress)) {
	r.mu.Lock()
	f(&r.prog)
	snap := r.prog
	r.mu.Unlock()
	if r.onProgress != nil {
		r.cbMu.Lock()
		r.onProgress(snap)
		r.cbMu.Unlock()
	}
}

// pairHeader is the gRPC metadata key of a stream's pair key (the worker's
// grpcapi.PairHeader).
const pairHeader = "rapidbyte-pair"

// relayTickets relays one stream: it opens DoGet(read) and DoPut(write) on
// workers (avoiding the addresses in avoid when another worker is
// available) and forwards every FlightData from the read to the write with
// at most maxInflight messages (and MaxInflightBytes) queued between them.
func (rl *Relayer) relayTickets(ctx context.Context, read *rapidbytev1.ReadTicket, write *rapidbytev1.WriteTicket,
	maxInflight int, avoid []string, follow *Follow, onProgress func(Progress),
) (Result, error) {
	if maxInflight <= 0 {
		maxInflight = DefaultMaxInflight
	}
	stream := fmt.Sprintf("stream %q", read.GetStream().GetName())
	if pt := read.GetStream().GetPartition(); pt.GetCount() > 1 {
		stream = fmt.Sprintf("stream %q partition %d/%d", read.GetStream().GetName(), pt.GetIndex(), pt.GetCount())
	}
	// A stream's read and write run on one worker, which hands the batches
	// from the source's guest to the destination's in memory: no copy
	// crosses the network or this process (docs/rationale.md, "A stream
	// is copied on one worker"). A worker that predates CopyStream, or
	// whose memory budget cannot hold both halves at once, gets the two
	// halves relayed through this process instead.
	copied, served, err := rl.copyTickets(ctx, read, write, maxInflight, avoid, follow, stream, onProgress)
	if served {
		return copied, err
	}
	overBudget := err // set after a COPY_OVER_BUDGET refusal: see below
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &relay{parent: ctx, cancel: cancel, start: time.Now(), stream: stream, onProgress: onProgress}

	ticket, err := proto.Marshal(read)
	if err != nil {
		return r.result(), runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode read ticket of %s: %v", stream, err)
	}
	cmd, err := proto.Marshal(write)
	if err != nil {
		return r.result(), runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode write ticket of %s: %v", stream, err)
	}

	ticketMsg, err := proto.Marshal(&flightpb.Ticket{Ticket: ticket})
	if err != nil {
		return r.result(), runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode read ticket of %s: %v", stream, err)
	}
	// The pool places each call on the least loaded worker. The write goes
	// to another worker than the read when one is ready: on the 1-table
	// bench that was faster than sharing one (docs/rationale.md,
	// "Placement by load"), and with two workers it halves every stream's
	// work between them whatever the table sizes. A follow read runs on
	// DoExchange, so the coordinator can tell it what it persisted.
	getDesc, getMethod := &doGetDesc, methodDoGet
	if follow != nil {
		getDesc, getMethod = &doExchangeDesc, methodDoExchange
		if ticketMsg, err = exchangeOpening(ticket); err != nil {
			return r.result(), runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "encode read ticket of %s: %v", stream, err)
		}
	}
	// Both halves carry one pair key: a worker that runs both admits them
	// on one guest slot (the worker's paired admission), so there reads
	// cannot hold every slot while their writes wait, nor writes while
	// reads do. With other workers ready the write goes apart (below) and
	// the halves hold a slot each.
	pctx := metadata.AppendToOutgoingContext(rctx, pairHeader, rand.Text())
	get, srcAddr, err := rl.pool.OpenStream(pctx, getDesc, getMethod, avoid, "", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return r.result(), workerpool.FromStatus(ctx, "open "+stream, err)
	}
	put, dstAddr, err := rl.pool.OpenStream(pctx, &doPutDesc, methodDoPut, avoid, srcAddr, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return r.result(), workerpool.FromStatus(ctx, "open "+stream, err)
	}
	if overBudget != nil && dstAddr == srcAddr {
		// Both halves on the worker that could not hold them together:
		// its write would wait out the queue timeout behind its own read.
		return r.result(), overBudget
	}
	if err := get.SendMsg(&frame{b: ticketMsg}); err != nil {
		return r.result(), workerpool.FromStatus(ctx, "read "+stream+" on "+srcAddr, recvErr(get, err, new(frame)))
	}
	if follow != nil {
		// The client side stays open for the follow control messages.
		follow.notify() // the first tells a resumed read what is persisted
		go sendControl(rctx, follow, func(c *rapidbytev1.FollowControl) error {
			b, err := proto.Marshal(c)
			if err != nil {
				return err
			}
			t, err := proto.Marshal(&flightpb.FlightData{AppMetadata: b})
			if err != nil {
				return err
			}
			return get.SendMsg(&frame{b: t})
		})
	} else if err := get.CloseSend(); err != nil {
		return r.result(), workerpool.FromStatus(ctx, "read "+stream+" on "+srcAddr, err)
	}
	r.update(func(p *Progress) { p.SourceWorker, p.DestWorker = srcAddr, dstAddr })

	ch := make(chan *frame, maxInflight)
	gate := newByteGate(rctx, MaxInflightBytes)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); defer r.recoverPanic("read"); r.read(rctx, get, srcAddr, ch, gate) }()
	go func() { defer wg.Done(); defer r.recoverPanic("write"); r.write(rctx, put, dstAddr, cmd, ch, gate) }()
	go func() { defer wg.Done(); defer r.recoverPanic("ack"); r.ack(put, dstAddr) }()
	wg.Wait()

	res := r.result()
	if err := r.firstErr(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, workerpool.FromStatus(ctx, stream, err)
	}
	return res, nil
}

func (r *relay) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{
		Progress: r.prog, Duration: time.Since(r.start),
		ReadDuration: r.readDur, WriteDuration: r.writeDur, Final: r.final,
		SourcePhases: r.srcPhases, DestPhases: r.dstPhases,
	}
}

// read receives the source's messages and queues them for the writer,
// within gate's byte bound. It closes ch when the source ends (successfully
// or not).
func (r *relay) read(ctx context.Context, get grpc.ClientStream, addr string, ch chan<- *frame, gate *byteGate) {
	defer close(ch)
	for {
		msg := new(frame)
		err := get.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			var ph rapidbytev1.StreamPhases
			if v := get.Trailer().Get(phasesKey); len(v) > 0 && proto.Unmarshal([]byte(v[0]), &ph) != nil {
				ph.Reset() // diagnostics only: an unreadable trailer reports no phases
			}
			r.mu.Lock()
			r.readDur = time.Since(r.start)
			r.srcPhases = phasesFromProto(&ph)
			r.mu.Unlock()
			return
		}
		if err != nil {
			r.failSource(workerpool.FromStatus(r.parent, "read "+r.stream+" on "+addr, err))
			return
		}
		header, appMeta, err := msg.fields()
		if err != nil {
			msg.release()
			r.fail(runerr.New(runerr.CategoryInternal, "BAD_FLIGHT_DATA", "read %s on %s: %v", r.stream, addr, err))
			return
		}
		var meta rapidbytev1.BatchMeta
		if len(appMeta) > 0 {
			if err := proto.Unmarshal(appMeta, &meta); err != nil {
				msg.release()
				r.fail(runerr.New(runerr.CategoryInternal, "BAD_BATCH_META", "read %s on %s: decode batch metadata: %v", r.stream, addr, err))
				return
			}
		}
		// Only record batches count: a writer may repeat the first batch's
		// metadata on the schema message.
		isBatch := messageType(header) == headerRecordBatch
		r.update(func(p *Progress) {
			p.MessagesRead++
			if isBatch {
				p.RecordsRead += meta.GetRecords()
				p.BytesRead += meta.GetBytes()
			}
			if p.SourceModuleLoadMs == 0 {
				p.SourceModuleLoadMs = meta.GetModuleLoadMs()
			}
			p.SourceHead = max(p.SourceHead, meta.GetCheckpoint().GetLog().GetHead())
		})
		if !gate.acquire(msg.n) {
			msg.release()
			return
		}
		select {
		case ch <- msg:
		case <-ctx.Done():
			gate.release(msg.n)
			msg.release()
			return
		}
	}
}

// write forwards queued messages to the destination; the first one carries
// the WriteTicket as its descriptor cmd. When the source ends it half-closes
// the DoPut so the destination finishes and sends its final ack. A source
// that sent no message at all (not even a schema) leaves nothing to write:
// the DoPut is cancelled and the relay succeeds with zero records.
func (r *relay) write(ctx context.Context, put grpc.ClientStream, addr string, cmd []byte, ch <-chan *frame, gate *byteGate) {
	first := true
	// Once this returns, drop whatever the source still sends, so the
	// reader keeps receiving and sees how the source ends.
	defer func() {
		for msg := range ch {
			gate.release(msg.n)
			msg.release()
		}
	}()
	send := func(msg *frame) bool {
		if first {
			b, err := withDescriptor(msg.bytes(), cmd)
			msg.release()
			if err != nil {
				r.fail(runerr.New(runerr.CategoryInternal, "ENCODE_TICKET", "write %s: %v", r.stream, err))
				return false
			}
			msg, first = &frame{b: b}, false
		}
		if err := put.SendMsg(msg); err != nil {
			if !errors.Is(err, io.EOF) { // io.EOF: the server ended the stream; ack reports why
				r.fail(workerpool.FromStatus(r.parent, "write "+r.stream+" on "+addr, err))
			}
			return false
		}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				if first {
					// The destination never got its ticket: the relay
					// failed first (it has no verdict to wait for), or the
					// source sent nothing, not even a schema (there is
					// nothing a destination could write). Abandon the write.
					r.mu.Lock()
					r.skipped = true
					r.mu.Unlock()
					r.cancel()
					return
				}
				if r.failed() || ctx.Err() != nil {
					return
				}
				r.mu.Lock()
				r.closeSent = true
				r.mu.Unlock()
				if err := put.CloseSend(); err != nil {
					r.fail(workerpool.FromStatus(r.parent, "write "+r.stream+" on "+addr, err))
				}
				return
			}
			n := msg.n
			ok = send(msg)
			gate.release(n)
			if !ok {
				return
			}
			r.update(func(p *Progress) { p.MessagesSent++ })
		}
	}
}

// ack reads the destination's PutResults until the stream ends.
func (r *relay) ack(put grpc.ClientStream, addr string) {
	for {
		raw := new(frame)
		err := put.RecvMsg(raw)
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			early := !r.closeSent
			r.writeDur = time.Since(r.start)
			r.mu.Unlock()
			if early && !r.failed() {
				r.fail(runerr.New(runerr.CategoryInternal, "WRITE_ENDED_EARLY",
					"write %s on %s: the destination ended the stream before the source finished", r.stream, addr))
			}
			return
		}
		if err != nil {
			r.mu.Lock()
			skipped := r.skipped
			r.mu.Unlock()
			if !skipped {
				r.fail(workerpool.FromStatus(r.parent, "write "+r.stream+" on "+addr, err))
			}
			return
		}
		var res flightpb.PutResult
		err = proto.Unmarshal(raw.bytes(), &res)
		raw.release()
		if err != nil {
			r.fail(runerr.New(runerr.CategoryInternal, "BAD_WRITE_ACK", "write %s on %s: decode put result: %v", r.stream, addr, err))
			return
		}
		if len(res.AppMetadata) == 0 {
			continue
		}
		var wa rapidbytev1.WriteAck
		if err := proto.Unmarshal(res.AppMetadata, &wa); err != nil {
			r.fail(runerr.New(runerr.CategoryInternal, "BAD_WRITE_ACK", "write %s on %s: decode ack: %v", r.stream, addr, err))
			return
		}
		r.recordAck(&wa)
	}
}

// recvErr returns the stream's status error when a send failed with io.EOF,
// receiving into msg (a message of the stream's codec) to learn it.
func recvErr(s grpc.ClientStream, err error, msg any) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if rerr := s.RecvMsg(msg); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return err
}
