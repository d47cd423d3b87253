package grpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

const testYAML = `version: "1.0"
pipeline: %s
source:
  use: source-x
  config: {host: db, password: ${PW}}
  streams:
    - {name: users}
destination:
  use: dest-y
  config: {host: db2, password: literal-secret}
resources: {max_retries: 0}
`

// relayFunc adapts a function to the engine's relayer.
type relayFunc func(ctx context.Context, job relay.Job, p func(relay.Progress)) (relay.Result, error)

func (f relayFunc) Relay(ctx context.Context, job relay.Job, p func(relay.Progress)) (relay.Result, error) {
	return f(ctx, job, p)
}

// blockingRelay blocks until its context ends, so runs stay RUNNING.
var blockingRelay = relayFunc(func(ctx context.Context, _ relay.Job, _ func(relay.Progress)) (relay.Result, error) {
	<-ctx.Done()
	return relay.Result{}, &retry.ConnectorError{Category: retry.CategoryCancelled, Code: "CANCELLED"}
})

var okRelay = relayFunc(func(_ context.Context, job relay.Job, p func(relay.Progress)) (relay.Result, error) {
	pr := relay.Progress{RecordsRead: 10, RecordsWritten: 10, BytesRead: 80, BytesWritten: 80, SourceWorker: "w:1", DestWorker: "w:2"}
	p(pr)
	return relay.Result{Progress: pr, Final: true}, nil
})

type fakeWorkers struct{}

func (fakeWorkers) Spec(context.Context, *rapidbytev1.SpecRequest) (*rapidbytev1.SpecResponse, error) {
	return nil, retry.New(retry.CategoryConfig, "CONNECTOR_NOT_FOUND", "no such connector")
}

func (fakeWorkers) Check(_ context.Context, r *rapidbytev1.CheckRequest) (*rapidbytev1.CheckResponse, error) {
	if r.GetRole() == rapidbytev1.Role_ROLE_DESTINATION {
		return &rapidbytev1.CheckResponse{Ok: false, Message: "connection refused",
			Error: &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK}}, nil
	}
	if r.GetConfig().GetFields()["password"].GetStringValue() != "pw-from-vars" {
		return &rapidbytev1.CheckResponse{Ok: false, Message: "password not resolved"}, nil
	}
	return &rapidbytev1.CheckResponse{Ok: true, Message: "connected"}, nil
}

func (fakeWorkers) Discover(_ context.Context, r *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	return &rapidbytev1.DiscoverResponse{Catalog: &rapidbytev1.Catalog{Streams: []*rapidbytev1.Stream{{Name: r.GetConnector().GetId()}}}}, nil
}

type env struct {
	client   rapidbytev1.CoordinatorServiceClient
	registry rapidbytev1.ConnectorRegistryServiceClient
	health   healthpb.HealthClient
	dir      string
	ctx      context.Context
}

func startAPI(t *testing.T, rl relayFunc, token string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	log := hclog.NewNullLogger()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	eng := engine.New(st, rl, engine.Config{Owner: "test", Env: func(string) (string, bool) { return "", false }}, log)
	ectx, ecancel := context.WithCancel(ctx)
	edone := make(chan struct{})
	go func() { _ = eng.Run(ectx); close(edone) }()
	t.Cleanup(func() { ecancel(); <-edone })
	<-eng.Ready()

	dir := t.TempDir()
	reg := registry.New(dir)
	auth := NewAuth(token, log)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.Unary), grpc.ChainStreamInterceptor(auth.Stream))
	ping := func(ctx context.Context) error {
		_, _, err := st.ListRuns(ctx, store.ListFilter{PageSize: 1})
		return err
	}
	rapidbytev1.RegisterCoordinatorServiceServer(srv, NewCoordinatorServer(eng, fakeWorkers{}, reg, ping, func(string) (string, bool) { return "", false }, log))
	rapidbytev1.RegisterConnectorRegistryServiceServer(srv, NewRegistryServer(reg, log))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return &env{client: rapidbytev1.NewCoordinatorServiceClient(conn), registry: rapidbytev1.NewConnectorRegistryServiceClient(conn),
		health: healthpb.NewHealthClient(conn), dir: dir, ctx: ctx}
}

var vars = map[string]string{"PW": "pw-from-vars"}

func TestSubmitIsIdempotentAndWaits(t *testing.T) {
	e := startAPI(t, okRelay, "")
	req := &rapidbytev1.SubmitRunRequest{PipelineYaml: fmt.Sprintf(testYAML, "p1"), IdempotencyKey: "key-1", Wait: true, Variables: vars}
	first, err := e.client.SubmitRun(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetAlreadyExists() || first.GetRun().GetState() != rapidbytev1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("first submit = %v", first)
	}
	run := first.GetRun()
	if run.GetRecordsWritten() != 10 || run.GetAttempts() != 1 || run.GetRetryCount() != 0 || len(run.GetStreams()) != 1 || len(run.GetAttemptHistory()) != 1 {
		t.Errorf("run result = %v", run)
	}
	second, err := e.client.SubmitRun(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !second.GetAlreadyExists() || second.GetRunId() != first.GetRunId() {
		t.Errorf("second submit = %s existing=%v, want %s existing", second.GetRunId(), second.GetAlreadyExists(), first.GetRunId())
	}
	// Responses never carry secrets.
	for _, m := range []any{first, second} {
		b, _ := json.Marshal(m)
		if bytes.Contains(b, []byte("literal-secret")) || bytes.Contains(b, []byte("pw-from-vars")) {
			t.Errorf("response leaks a secret: %s", b)
		}
	}
}

func TestSubmitInvalidPipeline(t *testing.T) {
	e := startAPI(t, okRelay, "")
	_, err := e.client.SubmitRun(e.ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: "version: \"1.0\"\npipeline: x\n"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
		t.Errorf("error = %v (details %v), want InvalidArgument with a ConnectorError", err, st.Details())
	}
	_, err = e.client.SubmitRun(e.ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: fmt.Sprintf(testYAML, "p1")}) // PW unset
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("unset variable: %v, want InvalidArgument", err)
	}
}

func TestListRunsPagesAndFilters(t *testing.T) {
	e := startAPI(t, okRelay, "")
	for i := 0; i < 5; i++ {
		name := "a"
		if i%2 == 1 {
			name = "b"
		}
		if _, err := e.client.SubmitRun(e.ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: fmt.Sprintf(testYAML, name), Wait: true, Variables: vars}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	token := ""
	pages := 0
	for {
		resp, err := e.client.ListRuns(e.ctx, &rapidbytev1.ListRunsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range resp.GetRuns() {
			ids = append(ids, r.GetRunId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != 5 || pages != 3 {
		t.Errorf("listed %d runs in %d pages, want 5 in 3", len(ids), pages)
	}
	resp, err := e.client.ListRuns(e.ctx, &rapidbytev1.ListRunsRequest{Pipeline: "b", States: []rapidbytev1.RunState{rapidbytev1.RunState_RUN_STATE_SUCCEEDED}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRuns()) != 2 {
		t.Errorf("filtered %d runs, want 2", len(resp.GetRuns()))
	}
	resp, err = e.client.ListRuns(e.ctx, &rapidbytev1.ListRunsRequest{States: []rapidbytev1.RunState{rapidbytev1.RunState_RUN_STATE_FAILED}})
	if err != nil || len(resp.GetRuns()) != 0 {
		t.Errorf("FAILED filter = %v, %v", resp.GetRuns(), err)
	}
}

func TestCancelAndWatch(t *testing.T) {
	e := startAPI(t, blockingRelay, "")
	sub, err := e.client.SubmitRun(e.ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: fmt.Sprintf(testYAML, "p1"), Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := e.client.WatchRun(e.ctx, &rapidbytev1.WatchRunRequest{RunId: sub.GetRunId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil { // the watch is established
		t.Fatal(err)
	}
	c, err := e.client.CancelRun(e.ctx, &rapidbytev1.CancelRunRequest{RunId: sub.GetRunId()})
	if err != nil || !c.GetAccepted() {
		t.Fatalf("cancel = %v, %v", c, err)
	}
	var last *rapidbytev1.WatchRunResponse
	for {
		ev, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	if last.GetRun() == nil || last.GetRun().GetState() != rapidbytev1.RunState_RUN_STATE_CANCELLED || !last.GetRun().GetCancelRequested() {
		t.Errorf("last event = %v, want the CANCELLED run", last)
	}
	c, err = e.client.CancelRun(e.ctx, &rapidbytev1.CancelRunRequest{RunId: sub.GetRunId()})
	if err != nil || c.GetAccepted() || c.GetState() != rapidbytev1.RunState_RUN_STATE_CANCELLED {
		t.Errorf("second cancel = %v, %v", c, err)
	}
	if _, err := e.client.GetRun(e.ctx, &rapidbytev1.GetRunRequest{RunId: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRun(nope) = %v, want NotFound", err)
	}
}

func TestAuth(t *testing.T) {
	e := startAPI(t, okRelay, "tok")
	bare := context.Background()
	if _, err := e.client.ListRuns(bare, &rapidbytev1.ListRunsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	wrong := metadata.AppendToOutgoingContext(bare, "authorization", "Bearer nope")
	if _, err := e.client.ListRuns(wrong, &rapidbytev1.ListRunsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong token: %v, want Unauthenticated", err)
	}
	if _, err := e.client.ListRuns(e.ctx, &rapidbytev1.ListRunsRequest{}); err != nil {
		t.Errorf("right token: %v", err)
	}
	if _, err := e.health.Check(bare, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without token: %v", err)
	}
	stream, err := e.registry.FetchModule(bare, &rapidbytev1.FetchModuleRequest{Connector: &rapidbytev1.ConnectorRef{Id: "x"}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without token: %v, want Unauthenticated", err)
	}
}

func TestCheckAndDiscover(t *testing.T) {
	e := startAPI(t, okRelay, "")
	resp, err := e.client.Check(e.ctx, &rapidbytev1.CoordinatorServiceCheckRequest{PipelineYaml: fmt.Sprintf(testYAML, "p1"), Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, it := range resp.GetItems() {
		got[it.GetName()] = it.GetOk()
	}
	want := map[string]bool{itemStructure: true, itemConnectors: false, itemSource: true, itemDestination: false, itemState: true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("item %s ok = %v, want %v (%v)", k, got[k], v, resp.GetItems())
		}
	}
	if resp.GetOk() {
		t.Error("check ok with failing items")
	}
	bad, err := e.client.Check(e.ctx, &rapidbytev1.CoordinatorServiceCheckRequest{PipelineYaml: "pipeline: [\n"})
	if err != nil || bad.GetOk() || bad.GetItems()[0].GetName() != itemStructure || bad.GetItems()[0].GetOk() {
		t.Errorf("invalid pipeline check = %v, %v", bad, err)
	}
	d, err := e.client.Discover(e.ctx, &rapidbytev1.CoordinatorServiceDiscoverRequest{PipelineYaml: fmt.Sprintf(testYAML, "p1"), Variables: vars})
	if err != nil || d.GetCatalog().GetStreams()[0].GetName() != "source-x" {
		t.Errorf("discover = %v, %v", d, err)
	}
	if _, err := e.client.Discover(e.ctx, &rapidbytev1.CoordinatorServiceDiscoverRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty discover = %v, want InvalidArgument", err)
	}
}

func TestFetchModule(t *testing.T) {
	e := startAPI(t, okRelay, "")
	m := abi.Manifest{ID: "source-x", Version: "1.0.0", Roles: []string{abi.RoleSource}, SyncModes: []string{abi.SyncFullRefresh}, ABIVersion: abi.Version}
	payload, _ := json.Marshal(m)
	// A custom section pads the module past 2 MiB, so it takes 3 chunks.
	body := append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, customSection("pad", bytes.Repeat([]byte{7}, 2<<20+123))...)
	wasm, err := abi.EmbedManifest(body, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "source-x.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	stream, err := e.registry.FetchModule(e.ctx, &rapidbytev1.FetchModuleRequest{Connector: &rapidbytev1.ConnectorRef{Id: "source-x"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	var msgs int
	var manifest *rapidbytev1.ConnectorManifest
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if msgs == 0 {
			manifest = resp.GetManifest()
		} else if resp.GetManifest() != nil {
			t.Error("manifest repeated after the first message")
		}
		if len(resp.GetChunk()) > chunkSize {
			t.Errorf("chunk of %d bytes", len(resp.GetChunk()))
		}
		msgs++
		got = append(got, resp.GetChunk()...)
	}
	if !bytes.Equal(got, wasm) || msgs != 3 {
		t.Errorf("got %d bytes in %d messages, want %d in 3", len(got), msgs, len(wasm))
	}
	if manifest.GetId() != "source-x" || manifest.GetDigest() == "" || manifest.GetSizeBytes() != uint64(len(wasm)) {
		t.Errorf("manifest = %v", manifest)
	}
	list, err := e.client.ListConnectors(e.ctx, &rapidbytev1.ListConnectorsRequest{})
	if err != nil || len(list.GetConnectors()) != 1 || list.GetConnectors()[0].GetRoles()[0] != rapidbytev1.Role_ROLE_SOURCE {
		t.Errorf("ListConnectors = %v, %v", list, err)
	}
	missing, err := e.registry.FetchModule(e.ctx, &rapidbytev1.FetchModuleRequest{Connector: &rapidbytev1.ConnectorRef{Id: "nope"}})
	if err == nil {
		_, err = missing.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("missing module: %v, want NotFound", err)
	}
}

// customSection encodes a wasm custom section.
func customSection(name string, payload []byte) []byte {
	uleb := func(v int) []byte {
		var out []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				out = append(out, c|0x80)
				continue
			}
			return append(out, c)
		}
	}
	body := append(uleb(len(name)), name...)
	body = append(body, payload...)
	return append(append([]byte{0}, uleb(len(body))...), body...)
}
