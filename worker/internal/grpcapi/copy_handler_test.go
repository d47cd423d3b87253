package grpcapi

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
)

// copyService is a fake runner for CopyStream: its read emits batches of
// one row and then returns readErr; its write takes batches until the end,
// or fails with writeErr after the first.
type copyService struct {
	workerService // not called
	batches       int
	readErr       error
	writeErr      error
}

func (c *copyService) AdmitCopy(context.Context, runner.StreamRequest, runner.StreamRequest) (*runner.Admission, *runner.Admission, error) {
	return nil, nil, nil
}

func (c *copyService) ReadAdmitted(_ context.Context, _ *runner.Admission, _ runner.StreamRequest, sink guest.ReadSink) (runner.Result, error) {
	for i := range c.batches {
		if err := sink.Batch(testRecord(memory.DefaultAllocator, int64(i)), nil); err != nil {
			return runner.Result{}, err
		}
	}
	return runner.Result{Stats: guest.Stats{Records: uint64(c.batches)}}, c.readErr
}

func (c *copyService) WriteAdmitted(ctx context.Context, _ *runner.Admission, _ runner.StreamRequest, src guest.WriteSource, ack guest.AckFunc) (runner.Result, error) {
	var n uint64
	for {
		rec, _, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return runner.Result{Stats: guest.Stats{Records: n}}, ack(nil, n, 0, 0)
		}
		if err != nil {
			return runner.Result{}, err
		}
		n += uint64(rec.NumRows())
		rec.Release()
		if c.writeErr != nil {
			return runner.Result{}, c.writeErr
		}
	}
}

// runCopy runs one CopyStream against svc and returns its read end,
// its final ack and the call's status.
func runCopy(t *testing.T, svc *copyService) (*rbv1.ReadEnd, *rbv1.WriteAck, error) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	rbv1.RegisterWorkerServiceServer(srv, NewWorkerServer(svc, hclog.NewNullLogger()))
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///copy", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cs, err := rbv1.NewWorkerServiceClient(conn).CopyStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spec := &rbv1.StreamSpec{Name: "s"}
	if err := cs.Send(&rbv1.CopyStreamRequest{
		Read:  &rbv1.ReadTicket{Connector: &rbv1.ConnectorRef{Id: "src"}, Stream: spec},
		Write: &rbv1.WriteTicket{Connector: &rbv1.ConnectorRef{Id: "dst"}, Stream: spec},
	}); err != nil {
		t.Fatal(err)
	}
	var end *rbv1.ReadEnd
	var last *rbv1.WriteAck
	for {
		ev, err := cs.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return end, last, err
		}
		if ev.GetReadEnd() != nil {
			end = ev.GetReadEnd()
		}
		if ev.GetAck() != nil {
			last = ev.GetAck()
		}
	}
}

func TestCopyStreamDelivers(t *testing.T) {
	end, final, err := runCopy(t, &copyService{batches: 3})
	if err != nil || end == nil || len(end.GetError()) != 0 {
		t.Fatalf("status %v, read end %v; want success", err, end)
	}
	if !final.GetFinal() || final.GetRecordsWritten() != 3 {
		t.Errorf("final ack %v, want 3 records", final)
	}
}

// TestCopyStreamReadFailsAfterBatches: a read that fails after its batches
// are queued is the call's status, never the write's consequent failure
// (repeated: the two halves end concurrently).
func TestCopyStreamReadFailsAfterBatches(t *testing.T) {
	readErr := &guest.Error{Connector: "src", Op: "read",
		Envelope: abi.NewErrorEnvelope(abi.CategoryTransientNetwork, "conn_reset", "connection reset by peer")}
	for i := range 10 {
		end, _, err := runCopy(t, &copyService{batches: 3, readErr: readErr})
		if len(end.GetError()) == 0 {
			t.Fatalf("run %d: read end %v, want the read's error", i, end)
		}
		if ce := ConnectorError(err); status.Code(err) == codes.OK || ce.GetConnector() != "src" || ce.GetCode() != "conn_reset" {
			t.Fatalf("run %d: call ended with %v (detail %v), want the read's conn_reset", i, err, ce)
		}
	}
}

// TestCopyStreamWriteFails: a write that fails while the read still emits
// is the call's status, and the read it cancelled reports no error.
func TestCopyStreamWriteFails(t *testing.T) {
	writeErr := &guest.Error{Connector: "dst", Op: "write",
		Envelope: abi.NewErrorEnvelope(abi.CategoryData, "bad_row", "value too long")}
	end, final, err := runCopy(t, &copyService{batches: 1000, writeErr: writeErr})
	if ce := ConnectorError(err); ce.GetConnector() != "dst" || ce.GetCode() != "bad_row" {
		t.Errorf("call ended with %v (detail %v), want the write's bad_row", err, ce)
	}
	if end == nil || len(end.GetError()) != 0 || final != nil {
		t.Errorf("read end %v, ack %v; want a read end without error and no ack", end, final)
	}
}
