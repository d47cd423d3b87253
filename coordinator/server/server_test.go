package server

import (
	"context"
	"errors"

	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// worker is a minimal fake worker: DoGet streams rows batches of 100
// rows, DoPut acks each batch with a checkpoint.
type worker struct {
	flightpb.UnimplementedFlightServiceServer
	rapidbytev1.UnimplementedWorkerServiceServer
	batches int
}

func (w *worker) DoGet(tk *flightpb.Ticket, s flightpb.FlightService_DoGetServer) error {
	var rt rapidbytev1.ReadTicket
	if err := proto.Unmarshal(tk.GetTicket(), &rt); err != nil {
		return err
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	fw := flight.NewRecordWriter(s, ipc.WithSchema(schema))
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := 0; i < w.batches; i++ {
		for j := 0; j < 100; j++ {
			b.Append(int64(i*100 + j))
		}
		col := b.NewArray()
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, 100)
		meta, _ := proto.Marshal(&rapidbytev1.BatchMeta{Records: 100, Bytes: 800, ModuleLoadMs: 2,
			Checkpoint: &rapidbytev1.Checkpoint{Id: uint64(i + 1), Stream: rt.GetStream().GetName(), Records: uint64(100 * (i + 1))}})
		err := fw.WriteWithAppMetadata(rec, meta)
		rec.Release()
		col.Release()
		if err != nil {
			return err
		}
	}
	return fw.Close()
}

func (w *worker) DoPut(s flightpb.FlightService_DoPutServer) error {
	var written uint64
	var id uint64
	stream := ""
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if d := m.GetFlightDescriptor(); d != nil {
			var wt rapidbytev1.WriteTicket
			if err := proto.Unmarshal(d.GetCmd(), &wt); err != nil {
				return err
			}
			stream = wt.GetStream().GetName()
		}
		if len(m.GetDataBody()) == 0 {
			continue // schema
		}
		written += 100
		id++
		ack, _ := proto.Marshal(&rapidbytev1.WriteAck{RecordsWritten: written, BytesWritten: written * 8,
			Checkpoint: &rapidbytev1.Checkpoint{Id: id, Stream: stream, Records: written}})
		if err := s.Send(&flightpb.PutResult{AppMetadata: ack}); err != nil {
			return err
		}
	}
	ack, _ := proto.Marshal(&rapidbytev1.WriteAck{RecordsWritten: written, BytesWritten: written * 8, Final: true, ModuleLoadMs: 4})
	return s.Send(&flightpb.PutResult{AppMetadata: ack})
}

func startWorker(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	w := &worker{batches: 3}
	flightpb.RegisterFlightServiceServer(srv, w)
	rapidbytev1.RegisterWorkerServiceServer(srv, w)
	hs := health.NewServer()
	hs.SetServingStatus("rapidbyte.v1.WorkerService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "ok", cfg: Config{Listen: "127.0.0.1:7070", Workers: "127.0.0.1:7071"}},
		{name: "everything wrong", cfg: Config{Listen: "nope", TLSCert: "c", MetricsListen: "x", MaxConcurrentRuns: -1},
			want: []string{"listen", "workers is required", "tls-cert and tls-key", "metrics-listen", "negative"}},
		{name: "lease and state key", cfg: Config{Workers: "w:1", LeaseTTL: 100 * time.Millisecond, StateKey: "short"},
			want: []string{"lease ttl 100ms: want at least 300ms", "state key is 5 bytes, want at least 16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != (len(tc.want) > 0) {
				t.Fatalf("Validate = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if d := Default(); d.Listen != "127.0.0.1:7070" || !strings.HasSuffix(d.State, filepath.Join(".rapidbyte", "state.db")) {
		t.Errorf("Default = %+v", d)
	}
}

func TestServeRunsPipelineEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	workerAddr := startWorker(t)
	metricsAddr := freeAddr(t)
	s := serve(ctx, t, Config{Workers: workerAddr, State: "sqlite://" + filepath.Join(t.TempDir(), "state.db"), MetricsListen: metricsAddr})
	client := rapidbytev1.NewCoordinatorServiceClient(s.conn)
	yaml := `version: "1.0"
pipeline: e2e
source:
  use: source-x
  config: {host: db}
  streams:
    - {name: users}
    - {name: orders, partition_key: id, partitions: 2}
destination:
  use: dest-y
  config: {host: db2}
`
	resp, err := client.SubmitRun(ctx, &rapidbytev1.SubmitRunRequest{PipelineYaml: yaml, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	run := resp.GetRun()
	if run.GetState() != rapidbytev1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("run = %v", run)
	}
	if run.GetRecordsRead() != 900 || run.GetRecordsWritten() != 900 || len(run.GetStreams()) != 3 {
		t.Errorf("records read/written = %d/%d over %d streams, want 900/900 over 3", run.GetRecordsRead(), run.GetRecordsWritten(), len(run.GetStreams()))
	}
	for _, s := range run.GetStreams() {
		if s.GetSourceWorker() != workerAddr || s.GetCheckpoint().GetRecords() != 300 {
			t.Errorf("stream %s: worker %s checkpoint %v", s.GetStream(), s.GetSourceWorker(), s.GetCheckpoint())
		}
	}
	if run.GetTimings().GetSourceModuleLoadMs() != 2 || run.GetTimings().GetDestModuleLoadMs() != 4 {
		t.Errorf("timings = %v", run.GetTimings())
	}
	metrics := get(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{`rapidbyte_coordinator_runs_total{state="SUCCEEDED"} 1`, `rapidbyte_coordinator_records_written_total 900`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="SubmitRun"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	s.stop()
	select {
	case err := <-s.served:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := s.srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := s.srv.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// serving is a coordinator serving on a loopback port, and a client
// connection to it.
type serving struct {
	srv    *Server
	conn   *grpc.ClientConn
	stop   context.CancelFunc // ends Serve, which then sends its result on served
	served chan error
}

// serve creates a coordinator with cfg and serves it until ctx ends or
// stop is called; the client connection closes with the test.
func serve(ctx context.Context, t *testing.T, cfg Config) *serving {
	t.Helper()
	srv, err := New(ctx, cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	s := &serving{srv: srv, stop: stop, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(sctx, lis) }()
	s.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuthExemptsHealthAndReflection checks the coordinator's side of the
// auth rule it shares with the workers (see worker/server TestAuth): with
// a token set, health and reflection answer without it, every other RPC
// needs "Bearer <token>" (scheme case-insensitive).
func TestAuthExemptsHealthAndReflection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := serve(ctx, t, Config{Workers: startWorker(t), State: "sqlite://" + filepath.Join(t.TempDir(), "state.db"), AuthToken: "s3cret"})
	defer func() {
		s.stop()
		<-s.served
		_ = s.srv.Close()
	}()
	conn := s.conn

	refl, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		err = refl.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}})
	}
	var resp *reflectpb.ServerReflectionResponse
	if err == nil {
		resp, err = refl.Recv()
	}
	if err != nil {
		t.Fatalf("reflection without token: %v", err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !slices.Contains(services, "rapidbyte.v1.CoordinatorService") {
		t.Errorf("reflection lists %v", services)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without token: %v", err)
	}

	client := rapidbytev1.NewCoordinatorServiceClient(conn)
	for _, tc := range []struct {
		header string
		want   codes.Code
	}{
		{"", codes.Unauthenticated},
		{"Bearer nope", codes.Unauthenticated},
		{"Basic s3cret", codes.Unauthenticated},
		{"Bearer s3cret", codes.OK},
		{"bearer s3cret", codes.OK},
	} {
		cctx := ctx
		if tc.header != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.header)
		}
		_, err := client.ListRuns(cctx, &rapidbytev1.ListRunsRequest{})
		if got := status.Code(err); got != tc.want {
			t.Errorf("ListRuns with %q: %v (%v), want %v", tc.header, got, err, tc.want)
		}
	}
}
