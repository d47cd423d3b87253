package grpcapi

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/timestamppb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// runService is what the coordinator service needs from the run engine.
type runService interface {
	Submit(ctx context.Context, sub engine.Submission) (store.Run, bool, error)
	Get(ctx context.Context, id string) (engine.RunView, error)
	List(ctx context.Context, f store.ListFilter) ([]store.Run, string, error)
	Cancel(ctx context.Context, id string) (store.Run, bool, error)
	Watch(id string) (<-chan engine.Event, func())
	Wait(ctx context.Context, id string) (store.Run, error)
	DropChangeStream(ctx context.Context, p *pipeline.Pipeline, release func(context.Context) (string, error)) (string, bool, error)
}

// workerClient forwards unary calls to some worker (workerpool.Pool).
type workerClient interface {
	Spec(ctx context.Context, req *rapidbytev1.SpecRequest) (*rapidbytev1.SpecResponse, error)
	Check(ctx context.Context, req *rapidbytev1.CheckRequest) (*rapidbytev1.CheckResponse, error)
	Discover(ctx context.Context, req *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error)
}

// CoordinatorServer implements rapidbyte.v1.CoordinatorService.
type CoordinatorServer struct {
	rapidbytev1.UnimplementedCoordinatorServiceServer

	runs    runService
	workers workerClient
	modules moduleRegistry
	ping    func(ctx context.Context) error
	env     pipeline.Lookup
	log     hclog.Logger
	// pollInterval is how often WatchRun polls a run no local engine executes.
	pollInterval time.Duration
	// reader serves ReadStream (see SetReader).
	reader streamReader
}

// NewCoordinatorServer returns the service. ping checks the state store;
// env looks up ${VAR} values after a request's own variables.
func NewCoordinatorServer(runs runService, workers workerClient, modules moduleRegistry,
	ping func(ctx context.Context) error, env pipeline.Lookup, log hclog.Logger,
) *CoordinatorServer {
	return &CoordinatorServer{
		runs: runs, workers: workers, modules: modules, ping: ping, env: env,
		log: log.Named("grpcapi"), pollInterval: time.Second,
	}
}

// SubmitRun starts a run, or returns the run already submitted with the same
// idempotency key; with wait it returns once the run is final.
func (s *CoordinatorServer) SubmitRun(ctx context.Context, r *rapidbytev1.SubmitRunRequest) (*rapidbytev1.SubmitRunResponse, error) {
	const method = "SubmitRun"
	if r.GetPipelineYaml() == "" {
		return nil, toStatus(s.log, method, badRequest("pipeline_yaml is required"))
	}
	run, existed, err := s.runs.Submit(ctx, engine.Submission{
		YAML: r.GetPipelineYaml(), IdempotencyKey: r.GetIdempotencyKey(), Variables: r.GetVariables(),
		Follow: r.GetFollow(),
	})
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	if r.GetWait() {
		if _, err := s.runs.Wait(ctx, run.ID); err != nil {
			return nil, toStatus(s.log, method, err)
		}
	}
	view, err := s.runs.Get(ctx, run.ID)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	return &rapidbytev1.SubmitRunResponse{
		RunId: run.ID, AlreadyExists: existed,
		Run: runDetail(view),
	}, nil
}

// GetRun returns a run with its attempts and streams.
func (s *CoordinatorServer) GetRun(ctx context.Context, r *rapidbytev1.GetRunRequest) (*rapidbytev1.GetRunResponse, error) {
	if r.GetRunId() == "" {
		return nil, toStatus(s.log, "GetRun", badRequest("run_id is required"))
	}
	view, err := s.runs.Get(ctx, r.GetRunId())
	if err != nil {
		return nil, toStatus(s.log, "GetRun", err)
	}
	return &rapidbytev1.GetRunResponse{Run: runDetail(view)}, nil
}

// runDetail converts a run view, with the live lag of its change streams.
func runDetail(v engine.RunView) *rapidbytev1.RunResult {
	out := protoconv.RunDetailToProto(v.Run, v.Attempts, v.Streams)
	for _, sr := range out.Streams {
		if l, ok := v.Lags[sr.GetStream()]; ok {
			sr.Lag = lagToProto(&l)
		}
	}
	return out
}

func lagToProto(l *engine.Lag) *rapidbytev1.StreamLag {
	if l == nil {
		return nil
	}
	return &rapidbytev1.StreamLag{Bytes: l.Bytes, Seconds: l.Seconds}
}

// ListRuns returns one page of runs, newest first.
func (s *CoordinatorServer) ListRuns(ctx context.Context, r *rapidbytev1.ListRunsRequest) (*rapidbytev1.ListRunsResponse, error) {
	f := store.ListFilter{PageSize: int(min(r.GetPageSize(), store.MaxPageSize)), PageToken: r.GetPageToken(), Pipeline: r.GetPipeline()}
	for _, st := range r.GetStates() {
		v, ok := protoconv.StateFromProto(st)
		if !ok {
			return nil, toStatus(s.log, "ListRuns", badRequest("states: invalid run state %v", st))
		}
		f.States = append(f.States, v)
	}
	runs, next, err := s.runs.List(ctx, f)
	if err != nil {
		return nil, toStatus(s.log, "ListRuns", err)
	}
	out := &rapidbytev1.ListRunsResponse{NextPageToken: next}
	for _, run := range runs {
		out.Runs = append(out.Runs, protoconv.RunToProto(run))
	}
	return out, nil
}

// CancelRun cancels a pending or running run.
func (s *CoordinatorServer) CancelRun(ctx context.Context, r *rapidbytev1.CancelRunRequest) (*rapidbytev1.CancelRunResponse, error) {
	if r.GetRunId() == "" {
		return nil, toStatus(s.log, "CancelRun", badRequest("run_id is required"))
	}
	run, accepted, err := s.runs.Cancel(ctx, r.GetRunId())
	if err != nil {
		return nil, toStatus(s.log, "CancelRun", err)
	}
	return &rapidbytev1.CancelRunResponse{Accepted: accepted, State: protoconv.StateToProto(run.State)}, nil
}

// WatchRun streams a run's events until it reaches a final state; the last
// event carries the run.
func (s *CoordinatorServer) WatchRun(r *rapidbytev1.WatchRunRequest, stream rapidbytev1.CoordinatorService_WatchRunServer) error {
	const method = "WatchRun"
	ctx := stream.Context()
	if r.GetRunId() == "" {
		return toStatus(s.log, method, badRequest("run_id is required"))
	}
	events, stop := s.runs.Watch(r.GetRunId())
	defer stop()
	view, err := s.runs.Get(ctx, r.GetRunId())
	if err != nil {
		return toStatus(s.log, method, err)
	}
	if view.Run.State.Final() {
		return stream.Send(finalEvent(view))
	}
	if err := stream.Send(&rapidbytev1.WatchRunResponse{
		Time: timestamppb.Now(), State: protoconv.StateToProto(view.Run.State),
		Attempt: uint32(max(view.Run.Attempts, 0)), Message: "watching run",
	}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return toStatus(s.log, method, ctx.Err())
		case ev, ok := <-events:
			if ok {
				if err := stream.Send(eventToProto(ev)); err != nil {
					return err
				}
				continue
			}
			events = nil // closed: the run ended here, or runs elsewhere
		case <-time.After(s.pollInterval):
		}
		if events != nil {
			continue
		}
		view, err = s.runs.Get(ctx, r.GetRunId())
		if err != nil {
			return toStatus(s.log, method, err)
		}
		if view.Run.State.Final() {
			return stream.Send(finalEvent(view))
		}
	}
}

func eventToProto(ev engine.Event) *rapidbytev1.WatchRunResponse {
	out := &rapidbytev1.WatchRunResponse{
		Time: protoconv.Timestamp(ev.Time), State: protoconv.StateToProto(ev.State), Attempt: uint32(max(ev.Attempt, 0)),
		Message: ev.Message, Error: protoconv.ErrorToProto(ev.Error),
	}
	for _, sp := range ev.Streams {
		out.Streams = append(out.Streams, &rapidbytev1.StreamProgress{
			Stream: sp.Stream, Partition: sp.Partition, RecordsRead: sp.RecordsRead, BytesRead: sp.BytesRead,
			RecordsWritten: sp.RecordsWritten, RecordsFailed: sp.RecordsFailed, State: protoconv.StateToProto(sp.State),
			Lag: lagToProto(sp.Lag),
		})
	}
	return out
}

func finalEvent(v engine.RunView) *rapidbytev1.WatchRunResponse {
	run := protoconv.RunDetailToProto(v.Run, v.Attempts, v.Streams)
	out := &rapidbytev1.WatchRunResponse{
		Time: timestamppb.Now(), State: run.GetState(), Attempt: run.GetAttempts(),
		Message: "run " + string(v.Run.State), Error: run.GetError(), Run: run,
	}
	for _, sr := range v.Streams {
		out.Streams = append(out.Streams, &rapidbytev1.StreamProgress{
			Stream: sr.Stream, Partition: sr.Partition, RecordsRead: sr.RecordsRead, BytesRead: sr.BytesRead,
			RecordsWritten: sr.RecordsWritten, RecordsFailed: sr.RecordsFailed, State: protoconv.StateToProto(sr.State),
		})
	}
	return out
}
