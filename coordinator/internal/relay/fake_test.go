package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// fakeWorker is an in-process Flight server: DoGet streams canned messages,
// DoPut records what it receives and acks every record batch.
type fakeWorker struct {
	flightpb.UnimplementedFlightServiceServer
	rapidbytev1.UnimplementedWorkerServiceServer

	addr string
	srv  *grpc.Server

	// getMsgs are the messages DoGet sends; getErr, when set, is returned
	// after getFailAfter messages.
	getMsgs      []*flightpb.FlightData
	getErr       error
	getFailAfter int
	// getErrDelay delays returning getErr.
	getErrDelay time.Duration
	// putErr, when set, is returned by DoPut after its first message.
	putErr error
	// getHang makes DoGet block after sending its messages until ctx ends.
	getHang bool
	// putGate, when set, is waited on before DoPut reads anything.
	putGate chan struct{}

	mu        sync.Mutex
	gets      int
	puts      int
	received  []*flightpb.FlightData
	ticket    *rapidbytev1.ReadTicket
	writeTick *rapidbytev1.WriteTicket
	getDone   chan error // receives the DoGet handler's ctx error when it returns
	putDone   chan error
}

func startFake(t *testing.T, f *fakeWorker) *fakeWorker {
	t.Helper()
	startFakeServing(t, f, f)
	return f
}

// startFakeServing starts f with ws as its WorkerService.
func startFakeServing(t *testing.T, f *fakeWorker, ws rapidbytev1.WorkerServiceServer) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.getDone = make(chan error, 8)
	f.putDone = make(chan error, 8)
	f.srv = grpc.NewServer()
	flightpb.RegisterFlightServiceServer(f.srv, f)
	rapidbytev1.RegisterWorkerServiceServer(f.srv, ws)
	hs := health.NewServer()
	hs.SetServingStatus(workerpool.WorkerHealthService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(f.srv, hs)
	go func() { _ = f.srv.Serve(lis) }()
	t.Cleanup(f.srv.Stop)
}

func (f *fakeWorker) DoGet(tk *flightpb.Ticket, s flightpb.FlightService_DoGetServer) error {
	var rt rapidbytev1.ReadTicket
	if err := proto.Unmarshal(tk.GetTicket(), &rt); err != nil {
		return err
	}
	f.mu.Lock()
	f.gets++
	f.ticket = &rt
	f.mu.Unlock()
	defer notify(s.Context(), f.getDone)
	for i, m := range f.getMsgs {
		if f.getErr != nil && i == f.getFailAfter {
			time.Sleep(f.getErrDelay)
			return f.getErr
		}
		if err := s.Send(m); err != nil {
			return err
		}
	}
	if f.getErr != nil {
		time.Sleep(f.getErrDelay)
		return f.getErr
	}
	if f.getHang {
		<-s.Context().Done()
		return s.Context().Err()
	}
	return nil
}

func (f *fakeWorker) DoPut(s flightpb.FlightService_DoPutServer) error {
	defer notify(s.Context(), f.putDone)
	if f.putGate != nil {
		select {
		case <-f.putGate:
		case <-s.Context().Done():
			return s.Context().Err()
		}
	}
	var written, ckpt uint64
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if d := m.GetFlightDescriptor(); d != nil {
			var wt rapidbytev1.WriteTicket
			if err := proto.Unmarshal(d.GetCmd(), &wt); err != nil {
				return err
			}
			f.mu.Lock()
			f.puts++
			f.writeTick = &wt
			f.mu.Unlock()
		}
		f.mu.Lock()
		f.received = append(f.received, proto.Clone(m).(*flightpb.FlightData))
		f.mu.Unlock()
		if f.putErr != nil {
			return f.putErr
		}
		if messageType(m.GetDataHeader()) != headerRecordBatch {
			continue
		}
		var bm rapidbytev1.BatchMeta
		_ = proto.Unmarshal(m.GetAppMetadata(), &bm)
		written += bm.GetRecords()
		ckpt++
		if err := sendAck(s, &rapidbytev1.WriteAck{
			Checkpoint:     &rapidbytev1.Checkpoint{Id: ckpt, Stream: "users", Records: written},
			RecordsWritten: written, ModuleLoadMs: 7,
		}); err != nil {
			return err
		}
	}
	return sendAck(s, &rapidbytev1.WriteAck{RecordsWritten: written, Final: true})
}

// notify reports a handler's end without ever blocking it.
func notify(ctx context.Context, ch chan error) {
	select {
	case ch <- ctx.Err():
	default:
	}
}

func sendAck(s flightpb.FlightService_DoPutServer, wa *rapidbytev1.WriteAck) error {
	b, err := proto.Marshal(wa)
	if err != nil {
		return err
	}
	return s.Send(&flightpb.PutResult{AppMetadata: b})
}

// collector gathers the FlightData an arrow-go flight writer produces.
type collector struct{ msgs []*flightpb.FlightData }

func (c *collector) Send(m *flightpb.FlightData) error {
	c.msgs = append(c.msgs, proto.Clone(m).(*flightpb.FlightData))
	return nil
}

// cannedMessages builds a real Arrow Flight stream: a schema message and n
// record batches of rows rows each, every batch with BatchMeta app_metadata.
// padBody, when > 0, replaces each batch body with that many opaque bytes
// (the relay never decodes bodies).
func cannedMessages(t *testing.T, n, rows, padBody int) []*flightpb.FlightData {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var c collector
	w := flight.NewRecordWriter(&c, ipc.WithSchema(schema))
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := 0; i < n; i++ {
		for j := 0; j < rows; j++ {
			b.Append(int64(i*rows + j))
		}
		col := b.NewArray()
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(rows))
		meta, err := proto.Marshal(&rapidbytev1.BatchMeta{
			Records: uint64(rows), Bytes: uint64(rows * 8), ModuleLoadMs: 3,
			Checkpoint: &rapidbytev1.Checkpoint{Id: uint64(i + 1), Stream: "users"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteWithAppMetadata(rec, meta); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		col.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if padBody > 0 {
		for i, m := range c.msgs {
			if len(m.DataBody) > 0 {
				m.DataBody = bytes.Repeat([]byte{byte(i)}, padBody)
			}
		}
	}
	return c.msgs
}

func newTestRelayer(t *testing.T, addrs ...string) *Relayer {
	t.Helper()
	list := ""
	for i, a := range addrs {
		if i > 0 {
			list += ","
		}
		list += a
	}
	p, err := workerpool.NewPool(workerpool.PoolConfig{Workers: list}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return New(p)
}

func testTickets() (*rapidbytev1.ReadTicket, *rapidbytev1.WriteTicket) {
	spec := &rapidbytev1.StreamSpec{Name: "users", SyncMode: rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH}
	return &rapidbytev1.ReadTicket{RunId: "r1", Attempt: 1, Connector: &rapidbytev1.ConnectorRef{Id: "src"}, Stream: spec},
		&rapidbytev1.WriteTicket{RunId: "r1", Attempt: 1, Connector: &rapidbytev1.ConnectorRef{Id: "dst"}, Stream: spec}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
