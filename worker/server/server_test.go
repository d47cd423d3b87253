package server

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
)

func okDiscover(context.Context, guest.Invocation) (*abi.Catalog, error) {
	return &abi.Catalog{Streams: []abi.Stream{{Name: "users", Columns: []abi.Column{{Name: "id", ArrowType: "int64"}}, SupportedSyncModes: []string{"full_refresh"}}}}, nil
}

func TestAuth(t *testing.T) {
	w := startWorker(t, func(c *Config) { c.AuthToken = "s3cret" }, map[string]*guesttest.Module{
		"source-a": {DiscoverFn: okDiscover},
	})
	conn := w.dial(t)
	client := rbv1.NewWorkerServiceClient(conn)
	req := &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}}
	tests := []struct {
		name   string
		header string
		want   codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"wrong token", "Bearer nope", codes.Unauthenticated},
		{"wrong scheme", "Basic s3cret", codes.Unauthenticated},
		{"right token", "Bearer s3cret", codes.OK},
		{"lower-case scheme", "bearer s3cret", codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			if tt.header != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.header)
			}
			_, err := client.Discover(ctx, req)
			if got := status.Code(err); got != tt.want {
				t.Errorf("Discover code = %v (%v), want %v", got, err, tt.want)
			}
			// Flight streams are guarded too.
			stream, err := flight.NewFlightServiceClient(conn).DoGet(ctx, &flight.Ticket{Ticket: []byte("x")})
			if err == nil {
				_, err = stream.Recv()
			}
			if tt.want == codes.Unauthenticated && status.Code(err) != codes.Unauthenticated {
				t.Errorf("DoGet code = %v, want Unauthenticated", status.Code(err))
			}
		})
	}
	// Reflection is exempt: it only describes the public API.
	refl, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(testCtx(t))
	if err == nil {
		err = refl.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}})
	}
	if err == nil {
		_, err = refl.Recv()
	}
	if err != nil {
		t.Errorf("reflection without token: %v", err)
	}
	// Health checks are exempt so Kubernetes probes work without a token.
	resp, err := healthpb.NewHealthClient(conn).Check(testCtx(t), &healthpb.HealthCheckRequest{Service: workerService})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without token: %v %v", resp, err)
	}
}

func TestReflectionListsServices(t *testing.T) {
	w := startWorker(t, nil, nil)
	stream, err := reflectpb.NewServerReflectionClient(w.dial(t)).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		got = append(got, s.GetName())
	}
	for _, want := range []string{workerService, flightService, "grpc.health.v1.Health"} {
		if !slices.Contains(got, want) {
			t.Errorf("reflection lists %v, missing %s", got, want)
		}
	}
}

func TestHealthTransitionsOnDrain(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	w := startWorker(t, nil, map[string]*guesttest.Module{
		"source-a": {DiscoverFn: func(ctx context.Context, _ guest.Invocation) (*abi.Catalog, error) {
			close(started)
			<-release
			return okDiscover(ctx, guest.Invocation{})
		}},
	})
	conn := w.dial(t)
	watch, err := healthpb.NewHealthClient(conn).Watch(testCtx(t), &healthpb.HealthCheckRequest{Service: workerService})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("initial health %v %v", st, err)
	}
	callErr := make(chan error, 1)
	go func() {
		_, err := rbv1.NewWorkerServiceClient(conn).Discover(testCtx(t), &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
		callErr <- err
	}()
	<-started
	w.cancel() // begin draining
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while draining %v %v", st, err)
	}
	select {
	case err := <-w.done:
		t.Fatalf("Serve returned %v before the running call finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-callErr; err != nil {
		t.Errorf("running call was not allowed to finish: %v", err)
	}
	if err := <-w.done; err != nil {
		t.Errorf("Serve after clean drain = %v, want nil", err)
	}
	w.done <- nil // for cleanup
}

func TestDrainTimeout(t *testing.T) {
	started := make(chan struct{})
	w := startWorker(t, func(c *Config) { c.DrainTimeout = 100 * time.Millisecond }, map[string]*guesttest.Module{
		"source-a": {DiscoverFn: func(ctx context.Context, _ guest.Invocation) (*abi.Catalog, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	})
	go func() {
		_, _ = rbv1.NewWorkerServiceClient(w.dial(t)).Discover(testCtx(t), &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
	}()
	<-started
	w.cancel()
	if err := <-w.done; !errors.Is(err, ErrDrainTimeout) {
		t.Errorf("Serve = %v, want ErrDrainTimeout", err)
	}
	w.done <- nil
}

func TestAbandonedInstancesTurnHealthNotServing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the abandoned-instance watcher (2s ticks)")
	}
	w := startWorker(t, func(c *Config) { c.MaxAbandoned = 1 }, nil)
	hc := healthpb.NewHealthClient(w.dial(t))
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	w.host.abandoned.Store(2)
	waitFor(t, func() bool { return check() == healthpb.HealthCheckResponse_NOT_SERVING })
	w.host.abandoned.Store(0)
	waitFor(t, func() bool { return check() == healthpb.HealthCheckResponse_SERVING })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantCE   *rbv1.ConnectorError
		wantMsg  string
	}{
		{
			name: "config", wantCode: codes.InvalidArgument,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "config", Code: "BAD_HOST", Message: "host is required"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: "BAD_HOST", Message: "host is required", Connector: "source-a"},
		},
		{
			name: "auth is not Unauthenticated", wantCode: codes.PermissionDenied,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "auth", Code: "AUTH_FAILED", Message: "password authentication failed"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_AUTH, Code: "AUTH_FAILED", Message: "password authentication failed", Connector: "source-a"},
		},
		{
			name: "transient db", wantCode: codes.Unavailable,
			err: &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{
				Category: "transient_db", Code: "SHUTDOWN", Message: "db restarting", Retryable: true, SafeToRetry: true,
				CommitState: "before_commit", RetryAfterMs: 500, BackoffClass: "fast",
			}},
			wantCE: &rbv1.ConnectorError{
				Category: rbv1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_DB, Code: "SHUTDOWN", Message: "db restarting", Retryable: true,
				SafeToRetry: true, CommitState: rbv1.CommitState_COMMIT_STATE_BEFORE_COMMIT, RetryAfterMs: 500,
				BackoffClass: rbv1.BackoffClass_BACKOFF_CLASS_FAST, Connector: "source-a",
			},
		},
		{
			name: "rate limit", wantCode: codes.ResourceExhausted,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "rate_limit", Code: "THROTTLED", Message: "slow down"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_RATE_LIMIT, Code: "THROTTLED", Message: "slow down", Connector: "source-a"},
		},
		{
			name: "schema", wantCode: codes.FailedPrecondition,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "schema", Code: "X", Message: "m"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_SCHEMA, Code: "X", Message: "m", Connector: "source-a"},
		},
		{
			name: "cancelled", wantCode: codes.Canceled,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "cancelled", Code: "cancelled", Message: "m"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_CANCELLED, Code: "cancelled", Message: "m", Connector: "source-a"},
		},
		{
			name: "connector internal", wantCode: codes.Internal,
			err:    &guest.Error{Connector: "source-a", Op: "discover", Envelope: abi.ErrorEnvelope{Category: "internal", Code: "trap", Message: "unreachable"}},
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, Code: "trap", Message: "unreachable", Connector: "source-a"},
		},
		{
			name: "worker internal hides the cause", wantCode: codes.Internal, wantMsg: "internal error",
			err:    errors.New("secret detail: password=hunter2"),
			wantCE: &rbv1.ConnectorError{Category: rbv1.ErrorCategory_ERROR_CATEGORY_INTERNAL, Code: "INTERNAL", Message: "internal error"},
		},
	}
	var (
		mu   sync.Mutex
		next error
	)
	w := startWorker(t, nil, map[string]*guesttest.Module{
		"source-a": {DiscoverFn: func(context.Context, guest.Invocation) (*abi.Catalog, error) {
			mu.Lock()
			defer mu.Unlock()
			return nil, next
		}},
	})
	client := rbv1.NewWorkerServiceClient(w.dial(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			next = tt.err
			mu.Unlock()
			_, err := client.Discover(testCtx(t), &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantCE, grpcapi.ConnectorError(err), protocmp.Transform()); diff != "" {
				t.Errorf("ConnectorError (-want +got):\n%s", diff)
			}
			if tt.wantMsg != "" && status.Convert(err).Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", status.Convert(err).Message(), tt.wantMsg)
			}
		})
	}
	t.Run("unknown connector", func(t *testing.T) {
		_, err := client.Discover(testCtx(t), &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "nope"}})
		if status.Code(err) != codes.NotFound || grpcapi.ConnectorError(err).GetCode() != "CONNECTOR_NOT_FOUND" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("check reports connector failures in the response", func(t *testing.T) {
		w := startWorker(t, nil, map[string]*guesttest.Module{
			"source-a": {CheckFn: func(context.Context, guest.Invocation) (*abi.CheckResult, error) {
				return nil, &guest.Error{Connector: "source-a", Op: "check", Envelope: abi.ErrorEnvelope{Category: "auth", Code: "AUTH_FAILED", Message: "bad password"}}
			}},
		})
		resp, err := rbv1.NewWorkerServiceClient(w.dial(t)).Check(testCtx(t), &rbv1.CheckRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
		if err != nil || resp.GetOk() || resp.GetError().GetCategory() != rbv1.ErrorCategory_ERROR_CATEGORY_AUTH || resp.GetMessage() != "bad password" {
			t.Errorf("Check = %v, %v", resp, err)
		}
	})
}

func TestMaxStreamsResourceExhausted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	w := startWorker(t, func(c *Config) { c.MaxStreams = 1; c.QueueTimeout = 50 * time.Millisecond }, map[string]*guesttest.Module{
		"source-a": {DiscoverFn: func(ctx context.Context, inv guest.Invocation) (*abi.Catalog, error) {
			started <- struct{}{}
			<-release
			return okDiscover(ctx, inv)
		}},
	})
	client := rbv1.NewWorkerServiceClient(w.dial(t))
	req := &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}}
	first := make(chan error, 1)
	go func() { _, err := client.Discover(testCtx(t), req); first <- err }()
	<-started
	_, err := client.Discover(testCtx(t), req)
	ce := grpcapi.ConnectorError(err)
	if status.Code(err) != codes.ResourceExhausted || ce.GetRetryAfterMs() == 0 || !ce.GetRetryable() || ce.GetCode() != "WORKER_BUSY" {
		t.Errorf("second call = %v (detail %v), want RESOURCE_EXHAUSTED with a retry hint", err, ce)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first call: %v", err)
	}
}

func TestSpecAndDiscover(t *testing.T) {
	w := startWorker(t, nil, map[string]*guesttest.Module{"source-a": {DiscoverFn: okDiscover}})
	client := rbv1.NewWorkerServiceClient(w.dial(t))
	spec, err := client.Spec(testCtx(t), &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := spec.GetManifest(); m.GetId() != "source-a" || !strings.HasPrefix(m.GetDigest(), "sha256:") || len(m.GetRoles()) != 2 {
		t.Errorf("manifest = %v", m)
	}
	// The digest pins the module.
	if _, err := client.Spec(testCtx(t), &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: "source-a", Digest: spec.GetManifest().GetDigest()}}); err != nil {
		t.Errorf("spec by digest: %v", err)
	}
	d, err := client.Discover(testCtx(t), &rbv1.DiscoverRequest{Connector: &rbv1.ConnectorRef{Id: "source-a"}})
	if err != nil || len(d.GetCatalog().GetStreams()) != 1 || d.GetCatalog().GetStreams()[0].GetSupportedSyncModes()[0] != rbv1.SyncMode_SYNC_MODE_FULL_REFRESH {
		t.Errorf("discover = %v %v", d, err)
	}
}

var testSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

func intBatch(vals ...int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(vals, nil)
	return b.NewRecordBatch()
}

func cursor(v int64) *abi.CursorValue { return &abi.CursorValue{Int: &v} }

func TestDoGet(t *testing.T) {
	var gotReq abi.Request
	w := startWorker(t, nil, map[string]*guesttest.Module{
		"source-a": {ReadFn: func(_ context.Context, inv guest.Invocation, sink guest.ReadSink) (guest.Stats, error) {
			gotReq = inv.Request
			if err := sink.Batch(intBatch(1, 2, 3), nil); err != nil {
				return guest.Stats{}, err
			}
			if err := sink.Batch(intBatch(4, 5), &abi.Checkpoint{ID: 1, Stream: "users", CursorField: "id", CursorValue: cursor(5), Records: 5}); err != nil {
				return guest.Stats{}, err
			}
			return guest.Stats{Records: 5, Batches: 2}, nil
		}},
	})
	ticket, err := proto.Marshal(&rbv1.ReadTicket{
		RunId: "run-1", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "source-a"},
		Stream: &rbv1.StreamSpec{Name: "users", SyncMode: rbv1.SyncMode_SYNC_MODE_INCREMENTAL, CursorField: "id"},
	})
	if err != nil {
		t.Fatal(err)
	}
	client := flight.NewFlightServiceClient(w.dial(t))
	stream, err := client.DoGet(testCtx(t), &flight.Ticket{Ticket: ticket})
	if err != nil {
		t.Fatal(err)
	}
	// The first message is the schema and carries no metadata.
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetAppMetadata()) != 0 || len(first.GetDataHeader()) == 0 {
		t.Errorf("schema message: metadata %d bytes, header %d bytes", len(first.GetAppMetadata()), len(first.GetDataHeader()))
	}
	rdr, err := flight.NewRecordReader(&prepend{first: first, rest: stream})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if !rdr.Schema().Equal(testSchema) {
		t.Errorf("schema = %v", rdr.Schema())
	}
	var ids []int64
	var metas []*rbv1.BatchMeta
	for rdr.Next() {
		col := rdr.RecordBatch().Column(0).(*array.Int64)
		ids = append(ids, col.Int64Values()...)
		var m rbv1.BatchMeta
		if err := proto.Unmarshal(rdr.LatestAppMetadata(), &m); err != nil {
			t.Fatal(err)
		}
		metas = append(metas, &m)
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 2, 3, 4, 5}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if len(metas) != 2 || metas[0].GetRecords() != 3 || metas[0].GetBytes() == 0 || metas[0].GetCheckpoint() != nil ||
		metas[1].GetRecords() != 2 || metas[1].GetCheckpoint().GetCursorValue().GetIntValue() != 5 || metas[1].GetModuleLoadMs() != 0 {
		t.Errorf("batch metadata = %v", metas)
	}
	if gotReq.Op != abi.OpRead || gotReq.Stream.Name != "users" || gotReq.Stream.SyncMode != "incremental" || gotReq.Stream.RunID != "run-1" {
		t.Errorf("guest request = %+v", gotReq)
	}
}

// prepend replays one already received message before the rest of a stream.
type prepend struct {
	first *flight.FlightData
	rest  flight.DataStreamReader
}

func (p *prepend) Recv() (*flight.FlightData, error) {
	if p.first != nil {
		f := p.first
		p.first = nil
		return f, nil
	}
	return p.rest.Recv()
}

func TestDoGetBadTicket(t *testing.T) {
	w := startWorker(t, nil, nil)
	stream, err := flight.NewFlightServiceClient(w.dial(t)).DoGet(testCtx(t), &flight.Ticket{Ticket: []byte{0xff, 0xff}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("err = %v, want InvalidArgument", err)
	}
}

func TestDoPut(t *testing.T) {
	var (
		gotIDs []int64
		gotReq abi.Request
	)
	w := startWorker(t, nil, map[string]*guesttest.Module{
		"dest-a": {WriteFn: func(ctx context.Context, inv guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
			gotReq = inv.Request
			var records uint64
			for {
				rec, cp, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					return guest.Stats{Records: records, Bytes: records * 8}, nil
				}
				if err != nil {
					return guest.Stats{}, err
				}
				gotIDs = append(gotIDs, rec.Column(0).(*array.Int64).Int64Values()...)
				records += uint64(rec.NumRows())
				rec.Release()
				if err := ack(cp, records, records*8, 0); err != nil {
					return guest.Stats{}, err
				}
			}
		}},
	})
	cmd, err := proto.Marshal(&rbv1.WriteTicket{
		RunId: "run-1", Connector: &rbv1.ConnectorRef{Id: "dest-a"},
		Stream: &rbv1.StreamSpec{Name: "users", WriteMode: rbv1.WriteMode_WRITE_MODE_UPSERT, PrimaryKey: []string{"id"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := flight.NewFlightServiceClient(w.dial(t)).DoPut(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wr := flight.NewRecordWriter(stream, ipc.WithSchema(testSchema))
	wr.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	for i, vals := range [][]int64{{1, 2}, {3}} {
		meta, _ := proto.Marshal(&rbv1.BatchMeta{Records: uint64(len(vals)), Checkpoint: &rbv1.Checkpoint{Id: uint64(i + 1), Stream: "users"}})
		rec := intBatch(vals...)
		if err := wr.WriteWithAppMetadata(rec, meta); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var acks []*rbv1.WriteAck
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var a rbv1.WriteAck
		if err := proto.Unmarshal(res.GetAppMetadata(), &a); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, &a)
	}
	want := []*rbv1.WriteAck{
		{Checkpoint: &rbv1.Checkpoint{Id: 1, Stream: "users"}, RecordsWritten: 2, BytesWritten: 16},
		{Checkpoint: &rbv1.Checkpoint{Id: 2, Stream: "users"}, RecordsWritten: 3, BytesWritten: 24},
		{Checkpoint: &rbv1.Checkpoint{Id: 2, Stream: "users"}, RecordsWritten: 3, BytesWritten: 24, Final: true},
	}
	if diff := cmp.Diff(want, acks, protocmp.Transform(), protocmp.IgnoreFields(&rbv1.WriteAck{}, "module_load_ms")); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, gotIDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if gotReq.Op != abi.OpWrite || gotReq.Stream.WriteMode != "upsert" || gotReq.Stream.RunID != "run-1" {
		t.Errorf("guest request = %+v", gotReq)
	}
}

func TestDoPutWithoutTicket(t *testing.T) {
	w := startWorker(t, nil, nil)
	stream, err := flight.NewFlightServiceClient(w.dial(t)).DoPut(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wr := flight.NewRecordWriter(stream, ipc.WithSchema(testSchema))
	rec := intBatch(1)
	_ = wr.Write(rec)
	rec.Release()
	_ = wr.Close()
	_ = stream.CloseSend()
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("err = %v, want InvalidArgument", err)
	}
}

func TestOtherFlightMethodsUnimplemented(t *testing.T) {
	w := startWorker(t, nil, nil)
	client := flight.NewFlightServiceClient(w.dial(t))
	lf, err := client.ListFlights(testCtx(t), &flight.Criteria{})
	if err == nil {
		_, err = lf.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("ListFlights = %v", err)
	}
	hs, err := client.Handshake(testCtx(t))
	if err == nil {
		_, err = hs.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Handshake = %v", err)
	}
}

func TestDoPutEmptyStreamDeliversSchema(t *testing.T) {
	var batches []int64
	var fields []string
	w := startWorker(t, nil, map[string]*guesttest.Module{
		"dest-a": {WriteFn: func(ctx context.Context, _ guest.Invocation, src guest.WriteSource, ack guest.AckFunc) (guest.Stats, error) {
			for {
				rec, _, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					return guest.Stats{}, ack(nil, 0, 0, 0)
				}
				if err != nil {
					return guest.Stats{}, err
				}
				batches = append(batches, rec.NumRows())
				for _, f := range rec.Schema().Fields() {
					fields = append(fields, f.Name)
				}
				rec.Release()
			}
		}},
	})
	cmd, _ := proto.Marshal(&rbv1.WriteTicket{Connector: &rbv1.ConnectorRef{Id: "dest-a"}, Stream: &rbv1.StreamSpec{Name: "users"}})
	stream, err := flight.NewFlightServiceClient(w.dial(t)).DoPut(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wr := flight.NewRecordWriter(stream, ipc.WithSchema(testSchema))
	wr.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	if err := wr.Close(); err != nil { // writes the schema message only
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	var final *rbv1.WriteAck
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		final = &rbv1.WriteAck{}
		if err := proto.Unmarshal(res.GetAppMetadata(), final); err != nil {
			t.Fatal(err)
		}
	}
	if !cmp.Equal(batches, []int64{0}) || !cmp.Equal(fields, []string{"id"}) || !final.GetFinal() {
		t.Errorf("batches %v fields %v final %v; want one empty batch with the schema", batches, fields, final)
	}
}

// TestPreloadWithoutWarm: with NoWarm, Serve loads the Preload connectors
// (and keeps them: a later request loads nothing) and compiles nothing else.
func TestPreloadWithoutWarm(t *testing.T) {
	w := startWorker(t, func(c *Config) {
		c.NoWarm = true
		c.Preload = []string{"source-a", "dest-a"}
	}, map[string]*guesttest.Module{"source-a": {}, "dest-a": {}, "other": {}})
	deadline := time.Now().Add(5 * time.Second)
	for w.host.Loads() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a warm-up, were there one, would load "other" too
	if n := w.host.Loads(); n != 2 {
		t.Fatalf("%d modules loaded after start, want the 2 preloaded", n)
	}
	if _, err := w.srv.resolver.Resolve(testCtx(t), modules.Ref{ID: "source-a"}); err != nil {
		t.Fatal(err)
	}
	if n := w.host.Loads(); n != 2 {
		t.Errorf("resolving a preloaded module loaded it again (%d loads)", n)
	}
}

// TestEnsureProcs: a worker never runs guests on fewer than two Ps.
func TestEnsureProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	if from := ensureProcs(); from != 1 || runtime.GOMAXPROCS(0) != minProcs {
		t.Errorf("ensureProcs from 1: returned %d, GOMAXPROCS %d; want 1 and %d", from, runtime.GOMAXPROCS(0), minProcs)
	}
	runtime.GOMAXPROCS(3)
	if from := ensureProcs(); from != 0 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("ensureProcs from 3: returned %d, GOMAXPROCS %d; want 0 and 3 (left alone)", from, runtime.GOMAXPROCS(0))
	}
}
