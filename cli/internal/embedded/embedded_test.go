package embedded

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestStartClose starts the real coordinator and worker (without connector modules),
// calls the coordinator with and without the cluster's token, and stops them.
func TestStartClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cl, err := Start(ctx, Config{ConnectorsDir: dir, CacheDir: dir + "/cache", State: "sqlite://" + dir + "/state.db"})
	if err != nil {
		t.Fatal(err)
	}
	if cl.AuthToken() == "" {
		t.Error("embedded cluster has no auth token")
	}

	conn, err := coord.Dial(ctx, coord.Options{Addr: cl.Addr(), AuthToken: cl.AuthToken()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := conn.Coordinator.ListConnectors(ctx, &rapidbytev1.ListConnectorsRequest{})
	if err != nil || len(resp.GetConnectors()) != 0 {
		t.Errorf("ListConnectors = %v, %v; want no connectors", resp, err)
	}
	runs, err := conn.Coordinator.ListRuns(ctx, &rapidbytev1.ListRunsRequest{})
	if err != nil || len(runs.GetRuns()) != 0 {
		t.Errorf("ListRuns = %v, %v; want an empty store", runs, err)
	}
	_ = conn.Close()

	anon, err := coord.Dial(ctx, coord.Options{Addr: cl.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anon.Coordinator.ListConnectors(ctx, &rapidbytev1.ListConnectorsRequest{})
	var ce *coord.Error
	if err = coord.FromStatus(err); !errors.As(err, &ce) || ce.Code != codes.Unauthenticated {
		t.Errorf("call without the token: %v, want Unauthenticated", err)
	}
	_ = anon.Close()

	start := time.Now()
	if err := cl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > stopTimeout+time.Second {
		t.Errorf("Close took %s", d)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
