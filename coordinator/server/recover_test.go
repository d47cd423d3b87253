package server

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// panicking is a gRPC service whose handlers panic.
type panicking struct {
	testgrpc.UnimplementedTestServiceServer
}

func (panicking) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	panic("boom")
}

func (panicking) FullDuplexCall(testgrpc.TestService_FullDuplexCallServer) error {
	panic("boom")
}

// TestHandlerPanicIsRecovered checks the coordinator's recovery
// interceptors: a handler that panics (unary or streaming) answers
// Internal and the coordinator keeps serving.
func TestHandlerPanicIsRecovered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := New(ctx, Config{Workers: "127.0.0.1:1", State: "sqlite://" + filepath.Join(t.TempDir(), "state.db")}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	testgrpc.RegisterTestServiceServer(srv.grpc, panicking{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, lis) }()
	defer func() { stop(); <-served }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)
	for range 2 {
		if _, err := client.EmptyCall(ctx, &testgrpc.Empty{}); status.Code(err) != codes.Internal {
			t.Fatalf("unary call to a panicking handler: %v, want Internal", err)
		}
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.Internal {
			t.Fatalf("stream to a panicking handler: %v, want Internal", err)
		}
	}
}
