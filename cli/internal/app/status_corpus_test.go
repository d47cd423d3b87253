package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	coordinator "github.com/rapidbyte/rapidbyte/coordinator/server"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	worker "github.com/rapidbyte/rapidbyte/worker/server"
)

// TestStatusCorpus drives a connector failure of every category through a
// real worker and coordinator (in-process, on loopback, with bearer tokens)
// and pins, for each: the gRPC code both servers answer with, the
// ConnectorError in the details, and the CLI's one-line message. The CLI
// blames --auth-token only when the coordinator itself rejected the token.
// (Conduit's status contract test is the model: one corpus, every path.)
func TestStatusCorpus(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	faulty := filepath.Join(root, "dist", "testconnectors", "test-faulty.wasm")
	if _, err := os.Stat(faulty); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test-faulty.wasm not built: %v", err)
		}
		t.Skipf("test-faulty.wasm not built (run make wasm): %v", err)
	}
	dir := t.TempDir()
	if err := os.Symlink(faulty, filepath.Join(dir, "test-faulty.wasm")); err != nil {
		t.Fatal(err)
	}

	const token = "corpus-token"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waddr, caddr := startServers(ctx, t, dir, cacheDir(root), token)

	// The table, written out rather than read from proto/statusmap, so a
	// change to the shared table has to change this corpus too.
	corpus := []struct {
		category string
		code     codes.Code
	}{
		{"config", codes.InvalidArgument},
		{"auth", codes.PermissionDenied},
		{"permission", codes.PermissionDenied},
		{"rate_limit", codes.ResourceExhausted},
		{"transient_network", codes.Unavailable},
		{"transient_db", codes.Unavailable},
		{"data", codes.FailedPrecondition},
		{"schema", codes.FailedPrecondition},
		{"internal", codes.Internal},
		{"cancelled", codes.Canceled},
	}
	if len(corpus) != len(rapidbytev1.ErrorCategory_name)-1 {
		t.Fatalf("corpus has %d categories, the proto enum %d", len(corpus), len(rapidbytev1.ErrorCategory_name)-1)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	wconn := dial(t, waddr)
	cconn := dial(t, caddr)
	for _, tc := range corpus {
		t.Run(tc.category, func(t *testing.T) {
			cfg := map[string]any{"mode": "fail", "category": tc.category, "phase": "open"}
			st, err := structpb.NewStruct(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref := &rapidbytev1.ConnectorRef{Id: "test-faulty"}
			wantCode := "FAULTY_" + strings.ToUpper(tc.category)
			_, werr := rapidbytev1.NewWorkerServiceClient(wconn).Discover(authed, &rapidbytev1.DiscoverRequest{Connector: ref, Config: st})
			checkStatus(t, "worker", werr, tc.code, tc.category, wantCode)
			_, cerr := rapidbytev1.NewCoordinatorServiceClient(cconn).Discover(authed, &rapidbytev1.CoordinatorServiceDiscoverRequest{Connector: ref, Config: st})
			checkStatus(t, "coordinator", cerr, tc.code, tc.category, wantCode)

			file := filepath.Join(t.TempDir(), "p.yaml")
			yaml := fmt.Sprintf(`version: "1.0"
pipeline: corpus
source:
  use: test-faulty
  config: {mode: fail, category: %s, phase: open}
  streams:
    - {name: faults, sync_mode: full_refresh}
destination:
  use: test-faulty
  config: {}
`, tc.category)
			if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			r := invoke(t, map[string]string{EnvCoordinator: caddr, EnvAuthToken: token}, "discover", file)
			if r.code == 0 {
				t.Fatalf("discover succeeded: %s", r.stdout)
			}
			want := "(" + tc.category + "/" + wantCode + ")"
			if tc.code == codes.Canceled {
				want = "context canceled" // the CLI's client reads Canceled as a cancellation
			}
			if !strings.Contains(r.stderr, want) {
				t.Errorf("CLI message %q does not say %s", r.stderr, want)
			}
			if strings.Contains(r.stderr, "auth-token") {
				t.Errorf("CLI blames the bearer token for a connector %s failure: %q", tc.category, r.stderr)
			}
		})
	}

	t.Run("bad bearer token", func(t *testing.T) {
		_, err := rapidbytev1.NewCoordinatorServiceClient(cconn).ListConnectors(
			metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong"), &rapidbytev1.ListConnectorsRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("wrong token: %v, want Unauthenticated", err)
		}
		r := invoke(t, map[string]string{EnvCoordinator: caddr, EnvAuthToken: "wrong"}, "connectors")
		if r.code == 0 || !strings.Contains(r.stderr, "check --auth-token") {
			t.Errorf("wrong token: exit %d, message %q; want a hint to check --auth-token", r.code, r.stderr)
		}
	})
}

// checkStatus asserts that err is a status with code and a ConnectorError
// of category and code in its details.
func checkStatus(t *testing.T, server string, err error, code codes.Code, category, ceCode string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("%s: error %v is not a status", server, err)
	}
	if st.Code() != code {
		t.Errorf("%s: code %s, want %s (%s)", server, st.Code(), code, st.Message())
	}
	var ce *rapidbytev1.ConnectorError
	for _, d := range st.Details() {
		if c, ok := d.(*rapidbytev1.ConnectorError); ok {
			ce = c
		}
	}
	wantCat := "ERROR_CATEGORY_" + strings.ToUpper(category)
	if ce == nil || ce.GetCategory().String() != wantCat || ce.GetCode() != ceCode || ce.GetConnector() != "test-faulty" {
		t.Errorf("%s: details %v, want a ConnectorError %s/%s from test-faulty", server, ce, wantCat, ceCode)
	}
}

// startServers starts a worker and a coordinator serving the modules in dir,
// both requiring token, and returns their addresses.
func startServers(ctx context.Context, t *testing.T, dir, cache, token string) (waddr, caddr string) {
	t.Helper()
	wlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wcfg := worker.Default()
	wcfg.ConnectorsDir, wcfg.CacheDir, wcfg.NoWarm = dir, cache, true
	wcfg.CoordinatorAddr, wcfg.AuthToken = clis.Addr().String(), token
	w, err := worker.New(wcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := coordinator.Default()
	ccfg.Listen, ccfg.Workers, ccfg.ConnectorsDir = clis.Addr().String(), wlis.Addr().String(), dir
	ccfg.State = "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "state.db"))
	ccfg.AuthToken, ccfg.WorkerAuthToken, ccfg.MetricsListen = token, token, ""
	c, err := coordinator.New(ctx, ccfg, nil)
	if err != nil {
		_ = w.Close()
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 2)
	go func() { done <- w.Serve(serveCtx, wlis) }()
	go func() { done <- c.Serve(serveCtx, clis) }()
	t.Cleanup(func() {
		stop()
		for range 2 {
			<-done
		}
		_ = c.Close()
		_ = w.Close()
	})
	return wlis.Addr().String(), clis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
