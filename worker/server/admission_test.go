package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// gauge reads a gauge of the worker's metric registry.
func (w *testWorker) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := w.srv.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// waitGauge waits (up to 20 s) until the gauge reads want.
func (w *testWorker) waitGauge(t *testing.T, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for w.gauge(t, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, w.gauge(t, name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const reservedGauge = "rapidbyte_worker_guest_memory_reserved_bytes"

// TestDoPutAdmittedBeforeItsPayload: a DoPut takes its slot and memory
// reservation before it reads a message. With the budget full (two writes
// that have sent nothing yet hold it), a flood of DoPuts each sending a
// 4 MiB first message that is not even a valid ticket is answered
// RESOURCE_EXHAUSTED / WORKER_BUSY, never InvalidArgument (the payload was
// not decoded), and the reserved gauge never exceeds the budget. Once room
// frees, the same message is read and refused as invalid, and a real write
// reserves its ticket's own cap, not the default.
func TestDoPutAdmittedBeforeItsPayload(t *testing.T) {
	const guestCap = wasmhost.DefaultMemoryLimitMiB << 20
	const budget = 2 * guestCap
	var self atomic.Pointer[testWorker] // the worker, for its own guest
	seen := make(chan float64, 1)       // the reserved gauge during the write
	w := startWorker(t, func(c *Config) {
		c.MaxStreams = 32 // memory, not slots, is what runs out
		c.MemoryBudget = budget
		c.QueueTimeout = 50 * time.Millisecond
	}, map[string]*guesttest.Module{
		"dest-a": {WriteFn: func(ctx context.Context, _ guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
			seen <- self.Load().gauge(t, reservedGauge)
			for {
				rec, _, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					return guest.Stats{}, ack(nil, 0, 0, 0)
				}
				if err != nil {
					return guest.Stats{}, err
				}
				rec.Release()
			}
		}},
	})
	self.Store(w)
	if got := w.gauge(t, "rapidbyte_worker_guest_memory_budget_bytes"); got != budget {
		t.Fatalf("budget gauge = %v, want %v", got, budget)
	}
	client := flight.NewFlightServiceClient(w.dial(t))

	// Two writes whose source has not sent anything yet fill the budget.
	parkCtx, unpark := context.WithCancel(testCtx(t))
	for range 2 {
		if _, err := client.DoPut(parkCtx); err != nil {
			t.Fatal(err)
		}
	}
	w.waitGauge(t, reservedGauge, budget)

	garbage := &flight.FlightData{
		FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("not a WriteTicket")},
		DataBody:         make([]byte, 4<<20),
	}
	putGarbage := func(ctx context.Context) error {
		stream, err := client.DoPut(ctx)
		if err != nil {
			return err
		}
		go func() { // flow control may hold the send: the server need not read it
			if stream.Send(garbage) == nil {
				_ = stream.CloseSend()
			}
		}()
		_, err = stream.Recv()
		return err
	}
	const flood = 24
	errs := make([]error, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = putGarbage(testCtx(t)) }()
	}
	wg.Wait()
	for i, err := range errs {
		if status.Code(err) != codes.ResourceExhausted || grpcapi.ConnectorError(err).GetCode() != "WORKER_BUSY" {
			t.Errorf("flood DoPut %d = %v, want RESOURCE_EXHAUSTED / WORKER_BUSY before its message is read", i, err)
		}
	}
	if got := w.gauge(t, reservedGauge); got != budget {
		t.Errorf("reserved after the flood = %v, want the %v the two admitted writes hold", got, budget)
	}

	unpark()
	w.waitGauge(t, reservedGauge, 0)
	if err := putGarbage(testCtx(t)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("DoPut with room = %v, want InvalidArgument (its message read)", err)
	}
	w.waitGauge(t, reservedGauge, 0)

	// A write reserves its stream's cap once its ticket is read.
	const streamCap = 64 << 20
	cmd, _ := proto.Marshal(&rbv1.WriteTicket{Connector: &rbv1.ConnectorRef{Id: "dest-a"},
		Stream: &rbv1.StreamSpec{Name: "users", Limits: &rbv1.Limits{MaxMemoryBytes: streamCap}}})
	stream, err := client.DoPut(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wr := flight.NewRecordWriter(stream, ipc.WithSchema(testSchema))
	wr.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	for {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := <-seen; got != streamCap {
		t.Errorf("reserved during the write = %v, want the ticket's cap %v", got, streamCap)
	}
	w.waitGauge(t, reservedGauge, 0)
}
