package app

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rapidbyte/rapidbyte/cli/internal/embedded"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// fakeCoordinator is a CoordinatorService with canned answers; it records what it was sent.
type fakeCoordinator struct {
	rapidbytev1.UnimplementedCoordinatorServiceServer

	mu         sync.Mutex
	submitted  []*rapidbytev1.SubmitRunRequest
	checked    []*rapidbytev1.CoordinatorServiceCheckRequest
	discovered []*rapidbytev1.CoordinatorServiceDiscoverRequest
	listed     []*rapidbytev1.ListRunsRequest
	cancelled  []string

	// submitErr, when set, fails SubmitRun, Check and Discover.
	submitErr error
	// busy fails that many SubmitRun calls first with the coordinator's
	// "pipeline already has an active run" error.
	busy int
	// run is the run SubmitRun creates and GetRun returns.
	run *rapidbytev1.RunResult
	// events are streamed by WatchRun before a final event carrying run.
	events []*rapidbytev1.WatchRunResponse
	// catalog is what Discover returns.
	catalog *rapidbytev1.Catalog
	// check is what Check returns.
	check *rapidbytev1.CoordinatorServiceCheckResponse
	// connectors is what ListConnectors returns.
	connectors []*rapidbytev1.ConnectorManifest
	// runs is what ListRuns pages through, two per page.
	runs []*rapidbytev1.RunResult
	// cancelAccepted is CancelRun's answer.
	cancelAccepted bool
}

func (f *fakeCoordinator) SubmitRun(_ context.Context, r *rapidbytev1.SubmitRunRequest) (*rapidbytev1.SubmitRunResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted = append(f.submitted, r)
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	if f.busy > 0 {
		f.busy--
		msg := `pipeline "pg_to_pg" already has an active run run-0 (coordinator c, lease renewed until t): wait for it to finish`
		st, _ := status.New(codes.FailedPrecondition, msg).WithDetails(&rapidbytev1.ConnectorError{
			Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: "RUN_ACTIVE", Message: msg})
		return nil, st.Err()
	}
	run := proto.Clone(f.run).(*rapidbytev1.RunResult)
	if !r.GetWait() {
		run = &rapidbytev1.RunResult{RunId: f.run.GetRunId(), Pipeline: f.run.GetPipeline(), State: rapidbytev1.RunState_RUN_STATE_PENDING}
	}
	return &rapidbytev1.SubmitRunResponse{RunId: run.GetRunId(), Run: run}, nil
}

func (f *fakeCoordinator) GetRun(_ context.Context, r *rapidbytev1.GetRunRequest) (*rapidbytev1.GetRunResponse, error) {
	if f.run == nil || r.GetRunId() != f.run.GetRunId() {
		return nil, status.Errorf(codes.NotFound, "run %s not found", r.GetRunId())
	}
	return &rapidbytev1.GetRunResponse{Run: f.run}, nil
}

func (f *fakeCoordinator) WatchRun(r *rapidbytev1.WatchRunRequest, s grpc.ServerStreamingServer[rapidbytev1.WatchRunResponse]) error {
	if f.run == nil || r.GetRunId() != f.run.GetRunId() {
		return status.Errorf(codes.NotFound, "run %s not found", r.GetRunId())
	}
	for _, ev := range f.events {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	return s.Send(&rapidbytev1.WatchRunResponse{
		Time: timestamppb.Now(), State: f.run.GetState(), Attempt: f.run.GetAttempts(), Message: "run finished", Run: f.run,
	})
}

func (f *fakeCoordinator) ListRuns(_ context.Context, r *rapidbytev1.ListRunsRequest) (*rapidbytev1.ListRunsResponse, error) {
	f.mu.Lock()
	f.listed = append(f.listed, proto.Clone(r).(*rapidbytev1.ListRunsRequest))
	f.mu.Unlock()
	start := 0
	if r.GetPageToken() != "" {
		start = int(r.GetPageToken()[0] - '0')
	}
	end := min(start+2, len(f.runs), start+int(r.GetPageSize()))
	resp := &rapidbytev1.ListRunsResponse{Runs: f.runs[start:end]}
	if end < len(f.runs) {
		resp.NextPageToken = string(rune('0' + end))
	}
	return resp, nil
}

func (f *fakeCoordinator) CancelRun(_ context.Context, r *rapidbytev1.CancelRunRequest) (*rapidbytev1.CancelRunResponse, error) {
	f.mu.Lock()
	f.cancelled = append(f.cancelled, r.GetRunId())
	f.mu.Unlock()
	if f.cancelAccepted {
		return &rapidbytev1.CancelRunResponse{Accepted: true, State: rapidbytev1.RunState_RUN_STATE_RUNNING}, nil
	}
	return &rapidbytev1.CancelRunResponse{State: rapidbytev1.RunState_RUN_STATE_SUCCEEDED}, nil
}

func (f *fakeCoordinator) Discover(_ context.Context, r *rapidbytev1.CoordinatorServiceDiscoverRequest) (*rapidbytev1.CoordinatorServiceDiscoverResponse, error) {
	f.mu.Lock()
	f.discovered = append(f.discovered, r)
	f.mu.Unlock()
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	return &rapidbytev1.CoordinatorServiceDiscoverResponse{Catalog: f.catalog, Pipeline: "pg_to_pg", Source: "source-postgres",
		Selections: []*rapidbytev1.StreamSelection{{Pattern: "public.*", Namespace: "public", Name: "users"}}}, nil
}

func (f *fakeCoordinator) Check(_ context.Context, r *rapidbytev1.CoordinatorServiceCheckRequest) (*rapidbytev1.CoordinatorServiceCheckResponse, error) {
	f.mu.Lock()
	f.checked = append(f.checked, r)
	f.mu.Unlock()
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	return f.check, nil
}

func (f *fakeCoordinator) ListConnectors(context.Context, *rapidbytev1.ListConnectorsRequest) (*rapidbytev1.ListConnectorsResponse, error) {
	return &rapidbytev1.ListConnectorsResponse{Connectors: f.connectors}, nil
}

// serve runs f on a real gRPC server on 127.0.0.1:0 and returns its address. A
// non-empty token is required as a bearer token on every call.
func serve(t *testing.T, f *fakeCoordinator, token string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if token != "" {
		check := func(ctx context.Context) error {
			md, _ := metadata.FromIncomingContext(ctx)
			if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+token {
				return status.Error(codes.Unauthenticated, "invalid or missing bearer token")
			}
			return nil
		}
		opts = append(opts,
			grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := check(ctx); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := check(ss.Context()); err != nil {
					return err
				}
				return h(srv, ss)
			}))
	}
	srv := grpc.NewServer(opts...)
	rapidbytev1.RegisterCoordinatorServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// result is one CLI invocation's outcome.
type result struct {
	code   int
	stdout string
	stderr string
}

// invoke runs the CLI in-process with args and environment env.
func invoke(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return invokeWith(t, env, false, nil, args...)
}

func invokeWith(t *testing.T, env map[string]string, terminal bool, start func(context.Context, embedded.Config) (cluster, error), args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(Env{
		Stdout:         &out,
		Stderr:         &errb,
		StderrTerminal: terminal,
		Getenv:         func(k string) string { return env[k] },
		HomeDir:        t.TempDir(),
	})
	if start != nil {
		a.startEmbedded = start
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := a.execute(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// writePipeline writes a pipeline file and returns its path.
func writePipeline(t *testing.T, text string) string {
	t.Helper()
	p := t.TempDir() + "/pipeline.yaml"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
