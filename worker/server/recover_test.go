package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
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

// TestHandlerPanicIsRecovered checks the worker's recovery interceptors: a
// handler that panics (unary or streaming) answers Internal and the worker
// keeps serving.
func TestHandlerPanicIsRecovered(t *testing.T) {
	w := startWorkerHook(t, nil, nil, func(s *Server) { testgrpc.RegisterTestServiceServer(s.grpc, panicking{}) })
	ctx := testCtx(t)
	client := testgrpc.NewTestServiceClient(w.dial(t))
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
