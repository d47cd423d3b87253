package embedded

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// missingConnector is a pipeline whose connectors the worker does not have.
const missingConnector = `version: "1.0"
pipeline: p
source:
  use: source-nope
  config: {}
  streams: [{name: t, sync_mode: full_refresh}]
destination:
  use: dest-nope
  config: {}
  write_mode: append
`

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
	// Check asks the worker (through the in-memory connection) for the
	// connector's spec: the worker's own answer, not an unreachable one.
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	check, err := conn.Coordinator.Check(cctx, &rapidbytev1.CoordinatorServiceCheckRequest{PipelineYaml: missingConnector})
	ccancel()
	if got := fmt.Sprint(check, coord.FromStatus(err)); !strings.Contains(got, "CONNECTOR_NOT_FOUND") {
		t.Errorf("Check of a missing connector = %s; want the worker's CONNECTOR_NOT_FOUND", got)
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
