package workerpool

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

func TestTargetOptions(t *testing.T) {
	tests := []struct {
		name, workers string
		wantTarget    string // prefix
		wantErr       string
	}{
		{name: "list", workers: "127.0.0.1:7071, 127.0.0.1:7072,127.0.0.1:7071", wantTarget: "rbworkers"},
		{name: "dns", workers: "dns:///workers.ns.svc:7071", wantTarget: "dns:///workers.ns.svc:7071"},
		{name: "empty", workers: " , ", wantErr: "no workers"},
		{name: "no port", workers: "localhost", wantErr: "want host:port"},
		{name: "scheme in a list", workers: "dns:///a:1,dns:///b:1", wantErr: "only entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, _, err := targetOptions(tc.workers)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(target, tc.wantTarget) {
				t.Errorf("target %q, want %q...", target, tc.wantTarget)
			}
		})
	}
}

// tokenWorker records the authorization header of Discover calls.
type tokenWorker struct {
	rapidbytev1.UnimplementedWorkerServiceServer
	got chan string
}

func (w *tokenWorker) Discover(ctx context.Context, _ *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	w.got <- strings.Join(md.Get("authorization"), ",")
	return &rapidbytev1.DiscoverResponse{Catalog: &rapidbytev1.Catalog{}}, nil
}

func TestUnaryForwardingCarriesToken(t *testing.T) {
	w := &tokenWorker{got: make(chan string, 1)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rapidbytev1.RegisterWorkerServiceServer(srv, w)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	p, err := NewPool(PoolConfig{Workers: lis.Addr().String(), Token: "tok"}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Discover(testCtx(t), &rapidbytev1.DiscoverRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-w.got; got != "Bearer tok" {
		t.Errorf("authorization = %q", got)
	}
	// Spec is unimplemented by the fake: the error maps to a domain error.
	_, err = p.Spec(testCtx(t), &rapidbytev1.SpecRequest{})
	if ce, ok := err.(*runerr.ConnectorError); !ok || ce.Category != runerr.CategoryInternal || ce.Code != "UNIMPLEMENTED" {
		t.Errorf("Spec error = %#v", err)
	}
	if err := p.Close(); err != nil || p.Close() != nil {
		t.Error("Close is not idempotent")
	}
}

// TestCallWaitsForLateWorker starts the worker after the pool has already
// been refused once: the call waits for it instead of failing fast.
func TestCallWaitsForLateWorker(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // refused until the worker starts below

	p, err := NewPool(PoolConfig{Workers: addr}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.Connect()
	deadline := time.Now().Add(5 * time.Second)
	for p.State() != "TRANSIENT_FAILURE" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w := &tokenWorker{got: make(chan string, 1)}
	go func() {
		time.Sleep(300 * time.Millisecond)
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		srv := grpc.NewServer()
		rapidbytev1.RegisterWorkerServiceServer(srv, w)
		t.Cleanup(srv.Stop)
		_ = srv.Serve(lis)
	}()
	if _, err := p.Discover(testCtx(t), &rapidbytev1.DiscoverRequest{}); err != nil {
		t.Fatalf("Discover with a late worker: %v", err)
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
