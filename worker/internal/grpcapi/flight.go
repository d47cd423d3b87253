package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
)

// streamService is what FlightServer needs from the runner.
type streamService interface {
	Read(ctx context.Context, req runner.StreamRequest, sink guest.ReadSink) (runner.Result, error)
	AdmitWrite(ctx context.Context, pair string) (*runner.Admission, error)
	AdmitCopy(ctx context.Context, read, write runner.StreamRequest) (*runner.Admission, *runner.Admission, error)
	ReadAdmitted(ctx context.Context, adm *runner.Admission, req runner.StreamRequest, sink guest.ReadSink) (runner.Result, error)
	WriteAdmitted(ctx context.Context, adm *runner.Admission, req runner.StreamRequest, src guest.WriteSource, ack guest.AckFunc) (runner.Result, error)
	ReadSchema(ctx context.Context, req runner.StreamRequest) ([]abi.Field, error)
}

// FlightServer is the worker's Arrow Flight data plane.
//
// DoGet: the ticket is a serialized rapidbyte.v1.ReadTicket. The stream is
// an ordinary Flight/IPC stream (schema message first, then one message per
// batch), so any Flight client can read it. Every record batch message
// carries app_metadata = serialized BatchMeta (the schema message carries
// none); module_load_ms is set on the first batch.
//
// DoPut: admitted (a guest slot and the default guest memory cap reserved,
// else RESOURCE_EXHAUSTED) before any message is read, so writes waiting
// for room hold no payload. A read and a write that carry the same
// PairHeader share one guest slot when both run on this worker (see
// runner's paired admission). The first message's descriptor cmd is a serialized
// rapidbyte.v1.WriteTicket; each batch's app_metadata may carry a BatchMeta
// whose checkpoint covers that batch. Every destination commit is answered
// with a PutResult whose app_metadata is a serialized WriteAck; the last one
// has final=true.
//
// DoExchange serves a follow read (StreamSpec.follow): the first message's
// descriptor cmd is a serialized ReadTicket, the server answers like a
// DoGet, and each later client message carries a serialized
// rapidbyte.v1.FollowControl as app_metadata (the checkpoint the
// coordinator persisted, a stop request); see followControl.
//
// GetFlightInfo (flightinfo.go) describes a read for standard Flight
// clients. Every other Flight method is Unimplemented.
type FlightServer struct {
	flight.BaseFlightServer
	svc streamService
	log hclog.Logger
}

// NewFlightServer returns a FlightServer backed by svc.
func NewFlightServer(svc streamService, log hclog.Logger) *FlightServer {
	return &FlightServer{svc: svc, log: log}
}

// Handshake is not served: authenticate with a bearer token header.
func (s *FlightServer) Handshake(flight.FlightService_HandshakeServer) error {
	return errUnimplemented("Handshake")
}

// DoGet reads one stream.
func (s *FlightServer) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	req, err := readRequest(tkt.GetTicket())
	if err != nil {
		return toStatus(s.log, err)
	}
	if req.Stream.Follow {
		return toStatus(s.log, invalidf("a follow read is served by DoExchange, not DoGet"))
	}
	return s.read(req, stream)
}

// read serves a read request on stream (a DoGet's or a DoExchange's).
func (s *FlightServer) read(req runner.StreamRequest, stream readStream) error {
	req.Pair = pairKey(stream.Context())
	sink := newFlightSink(stream)
	res, err := s.svc.Read(stream.Context(), req, sink)
	if cerr := sink.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && res.Phases != nil {
		if b, merr := proto.Marshal(phasesToProto(res.Phases)); merr == nil {
			stream.SetTrailer(metadata.Pairs(PhasesTrailer, string(b)))
		}
	}
	return toStatus(s.log, err)
}

// PairHeader is the gRPC metadata key with which the coordinator marks a
// stream's read and write as one pair (the same opaque value on both).
const PairHeader = "rapidbyte-pair"

// pairKey returns the call's PairHeader value, or "".
func pairKey(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(PairHeader); len(v) == 1 && len(v[0]) <= 128 {
		return v[0]
	}
	return ""
}

// PhasesTrailer is the DoGet trailer that carries the source connector's
// per-phase times (a serialized rapidbyte.v1.StreamPhases) after a
// successful read; standard Flight clients ignore it.
const PhasesTrailer = "rapidbyte-phases-bin"

// phasesToProto converts the phase times a connector reported; nil stays nil.
func phasesToProto(ph map[string]time.Duration) *rbv1.StreamPhases {
	if ph == nil {
		return nil
	}
	return &rbv1.StreamPhases{
		ConnectSecs: ph["connect"].Seconds(), QuerySecs: ph["query"].Seconds(), FetchSecs: ph["fetch"].Seconds(),
		FlushSecs: ph["flush"].Seconds(), CommitSecs: ph["commit"].Seconds(),
	}
}

// streamTicket is what ReadTicket and WriteTicket have in common.
type streamTicket interface {
	GetRunId() string
	GetAttempt() uint32
	GetConnector() *rbv1.ConnectorRef
	GetConfig() *structpb.Struct
	GetStream() *rbv1.StreamSpec
	GetResume() *rbv1.Checkpoint
	GetAllowedHosts() []string
	GetTimeoutSeconds() uint32
}

// streamRequest converts a read or write ticket into the runner's request;
// its errors are invalid-argument errors.
func streamRequest(t streamTicket) (runner.StreamRequest, error) {
	cfg, err := protoconv.ConfigJSON(t.GetConfig())
	if err != nil {
		return runner.StreamRequest{}, invalidf("config: %v", err)
	}
	if t.GetStream().GetName() == "" {
		return runner.StreamRequest{}, invalidf("ticket has no stream name")
	}
	return runner.StreamRequest{
		Ref: refFromProto(t.GetConnector()), Config: cfg, Stream: protoconv.StreamSpecFromProto(t.GetStream()),
		Resume: protoconv.CheckpointFromProto(t.GetResume()), AllowedHosts: t.GetAllowedHosts(),
		Timeout: time.Duration(t.GetTimeoutSeconds()) * time.Second, RunID: t.GetRunId(), Attempt: t.GetAttempt(),
	}, nil
}

// flightSink writes batches as Flight messages. The ipc.Writer builds the
// IPC messages; payloadWriter sends them, attaching BatchMeta to record
// batch messages only.
type flightSink struct {
	pw      *payloadWriter
	w       *ipc.Writer
	loadMs  float64
	started bool
}

func newFlightSink(stream messageStream) *flightSink {
	return &flightSink{pw: &payloadWriter{stream: stream}}
}

// ModuleLoaded implements runner.ModuleLoadObserver.
func (f *flightSink) ModuleLoaded(d time.Duration) { f.loadMs = float64(d.Microseconds()) / 1000 }

// Batch implements guest.ReadSink. The sink owns rec and releases it.
func (f *flightSink) Batch(rec arrow.RecordBatch, cp *abi.Checkpoint) error {
	defer rec.Release()
	if f.w == nil {
		f.w = ipc.NewWriterWithPayloadWriter(f.pw, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	}
	meta := &rbv1.BatchMeta{Records: uint64(rec.NumRows()), Checkpoint: protoconv.CheckpointToProto(cp)}
	if !f.started {
		meta.ModuleLoadMs = f.loadMs
		f.started = true
	}
	f.pw.meta = meta
	f.pw.src, f.pw.sliced = bodyOf(rec)
	defer func() { f.pw.meta, f.pw.src, f.pw.sliced = nil, nil, false }()
	if err := f.w.Write(rec); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

func (f *flightSink) close() error {
	if f.w == nil {
		return nil
	}
	return f.w.Close()
}

// messageStream sends FlightData messages; SendMsg also takes a
// *bodyMessage, which the worker server's Codec marshals.
type messageStream interface {
	Send(*flight.FlightData) error
	SendMsg(m any) error
}

// payloadWriter implements ipc.PayloadWriter over a Flight stream. A
// record batch body is sent as the list of its Arrow buffers (see Codec),
// so it is not concatenated in the host: the transport copies it once. The
// buffers are Go memory that no one reuses, so gRPC may still hold them
// after Send returns.
//
// When every buffer of the batch is a slice of one body (src, see bodyOf;
// the pooled copy wasmhost makes of an emitted batch) laid out exactly as
// the IPC body, the body goes out as one gRPC buffer holding a reference
// to src instead: src goes back to the pool once gRPC has written it.
// Other sliced buffers may be pooled too, and reused once the batch is
// released, before gRPC has sent them: their body is sent as a copy.
type payloadWriter struct {
	stream messageStream
	meta   *rbv1.BatchMeta // attached to the next record batch message
	src    *memory.Buffer  // the body of the batch being written, or nil
	sliced bool            // some buffer of the batch is a slice of another
	body   gather
	fd     flight.FlightData
}

func (p *payloadWriter) Start() error { return nil }
func (p *payloadWriter) Close() error { return nil }

func (p *payloadWriter) WritePayload(payload ipc.Payload) error {
	m := payload.Meta()
	defer m.Release()
	p.body.reset()
	if err := payload.SerializeBody(&p.body); err != nil {
		return fmt.Errorf("serialize batch body: %w", err)
	}
	p.fd = flight.FlightData{DataHeader: m.Bytes()}
	if p.meta != nil && isRecordBatch(m) {
		p.meta.Bytes = uint64(p.body.n)
		b, err := proto.Marshal(p.meta)
		if err != nil {
			return fmt.Errorf("encode batch metadata: %w", err)
		}
		p.fd.AppMetadata = b
	}
	if p.body.n == 0 {
		return p.stream.Send(&p.fd)
	}
	msg := &bodyMessage{header: p.fd.DataHeader, meta: p.fd.AppMetadata, body: p.body.bufs, bodyLen: p.body.n}
	switch {
	case p.src != nil && p.body.n >= minWholeBody && isBody(p.body.bufs, p.src.Bytes()):
		b := p.src.Bytes()
		p.src.Retain()
		msg.whole = mem.NewBuffer(&b, bodyRelease{p.src})
	case p.sliced:
		msg.body = [][]byte{bytes.Join(p.body.bufs, nil)}
	}
	return p.stream.SendMsg(msg)
}

// minWholeBody is the smallest body sent as one pooled buffer: gRPC
// reference-counts (and so frees) only buffers above its pooling threshold.
const minWholeBody = 64 << 10

// bodyOf returns the buffer that all of rec's non-empty buffers are slices
// of (see memory.SliceBuffer), or nil when there is no such single buffer.
// sliced reports whether any buffer is a slice of another: such memory may
// be pooled, and so be reused as soon as rec is released.
func bodyOf(rec arrow.RecordBatch) (body *memory.Buffer, sliced bool) {
	single := true
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b == nil || b.Len() == 0 {
				continue
			}
			switch p := b.Parent(); {
			case p == nil:
				single = false
			case body == nil:
				body, sliced = p, true
			case p != body:
				single = false
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	if !single {
		return nil, sliced
	}
	return body, sliced
}

// isBody reports whether the gathered pieces of an IPC body are exactly
// body: each piece either is the next part of body's memory or has the
// same (padding) bytes.
func isBody(pieces [][]byte, body []byte) bool {
	off := 0
	for _, p := range pieces {
		if len(p) > len(body)-off {
			return false
		}
		next := body[off : off+len(p)]
		if &p[0] != &next[0] && (len(p) >= 8 || !bytes.Equal(p, next)) {
			return false
		}
		off += len(p)
	}
	return off == len(body)
}

// bodyRelease is the gRPC buffer pool of a whole body: gRPC puts the
// buffer back once it is written (or the send failed), which releases the
// reference the body message held.
type bodyRelease struct{ buf *memory.Buffer }

// Get implements mem.BufferPool; gRPC never calls it on this pool.
func (bodyRelease) Get(int) *[]byte { return nil }

// Put implements mem.BufferPool.
func (r bodyRelease) Put(*[]byte) { r.buf.Release() }

func isRecordBatch(meta *memory.Buffer) bool {
	msg := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	defer msg.Release()
	return msg.Type() == ipc.MessageRecordBatch
}

// DoPut writes one stream.
func (s *FlightServer) DoPut(stream flight.FlightService_DoPutServer) error {
	adm, err := s.svc.AdmitWrite(stream.Context(), pairKey(stream.Context()))
	if err != nil {
		return toStatus(s.log, err)
	}
	defer adm.Release()
	rdr, pr, err := newPutReader(stream)
	if errors.Is(err, io.EOF) {
		return toStatus(s.log, invalidf("DoPut stream is empty"))
	}
	if err != nil {
		return toStatus(s.log, invalidf("DoPut stream: %v", err))
	}
	defer rdr.Release()
	desc := pr.desc
	if desc == nil || len(desc.GetCmd()) == 0 {
		return toStatus(s.log, invalidf("first DoPut message has no descriptor cmd (a rapidbyte.v1.WriteTicket)"))
	}
	var t rbv1.WriteTicket
	if err := proto.Unmarshal(desc.GetCmd(), &t); err != nil {
		return toStatus(s.log, invalidf("descriptor cmd is not a rapidbyte.v1.WriteTicket: %v", err))
	}
	req, err := streamRequest(&t)
	if err != nil {
		return toStatus(s.log, err)
	}
	src := &flightSource{rdr: rdr, pr: pr}
	acks := &acker{send: func(ack *rbv1.WriteAck) error { return sendPutAck(stream, ack) }, loadMs: &src.loadMs}
	res, err := s.svc.WriteAdmitted(stream.Context(), adm, req, src, acks.ack)
	if err != nil {
		return toStatus(s.log, err)
	}
	return toStatus(s.log, acks.final(res))
}

// flightSource reads DoPut batches and their checkpoints.
type flightSource struct {
	rdr       *ipc.Reader
	pr        *putReader
	loadMs    float64
	delivered bool // a batch was handed out
}

// ModuleLoaded implements runner.ModuleLoadObserver.
func (f *flightSource) ModuleLoaded(d time.Duration) { f.loadMs = float64(d.Microseconds()) / 1000 }

// Next implements guest.WriteSource. The caller owns the returned batch
// and releases it.
func (f *flightSource) Next(context.Context) (arrow.RecordBatch, *abi.Checkpoint, error) {
	if !f.rdr.Next() {
		if err := f.rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("receive batch: %w", err)
		}
		if !f.delivered {
			// A stream with a schema and no rows still tells the
			// destination its schema (for example to create an empty table).
			f.delivered = true
			return guest.EmptyRecord(f.rdr.Schema()), nil, nil
		}
		return nil, nil, io.EOF
	}
	f.delivered = true
	var cp *abi.Checkpoint
	if md := f.pr.lastMeta; len(md) > 0 {
		var meta rbv1.BatchMeta
		if err := proto.Unmarshal(md, &meta); err != nil {
			return nil, nil, invalidf("batch app_metadata is not a rapidbyte.v1.BatchMeta: %v", err)
		}
		cp = protoconv.CheckpointFromProto(meta.GetCheckpoint())
	}
	rec := f.rdr.RecordBatch()
	rec.Retain()
	return rec, cp, nil
}

// acker sends WriteAcks; the guest may call ack from its own goroutine.
type acker struct {
	send   func(*rbv1.WriteAck) error
	loadMs *float64 // the destination module's load time, set before the first ack

	mu        sync.Mutex
	committed *abi.Checkpoint
	failed    uint64
}

// ack reports a commit: records written are the records delivered less
// the failed ones.
func (a *acker) ack(committed *abi.Checkpoint, records, bytes, failed uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if committed != nil {
		a.committed = committed
	}
	a.failed = failed
	return a.send(&rbv1.WriteAck{
		Checkpoint: protoconv.CheckpointToProto(committed), RecordsWritten: records - failed, BytesWritten: bytes,
		ModuleLoadMs: *a.loadMs, RecordsFailed: failed,
	})
}

func (a *acker) final(res runner.Result) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.send(&rbv1.WriteAck{
		Checkpoint: protoconv.CheckpointToProto(a.committed), RecordsWritten: res.Records - min(a.failed, res.Records), BytesWritten: res.Bytes,
		Final: true, ModuleLoadMs: *a.loadMs, Phases: phasesToProto(res.Phases), RecordsFailed: a.failed,
	})
}

// sendPutAck sends ack as the app_metadata of a DoPut's PutResult.
func sendPutAck(stream flight.FlightService_DoPutServer, ack *rbv1.WriteAck) error {
	b, err := proto.Marshal(ack)
	if err != nil {
		return fmt.Errorf("encode write ack: %w", err)
	}
	if err := stream.Send(&flight.PutResult{AppMetadata: b}); err != nil {
		return fmt.Errorf("send write ack: %w", err)
	}
	return nil
}
