package grpcapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hashicorp/go-hclog"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
)

// controlService is what WorkerServer needs from the runner.
type controlService interface {
	Spec(ctx context.Context, ref modules.Ref) (abi.Manifest, error)
	Check(ctx context.Context, ref modules.Ref, config json.RawMessage, role string, streams []abi.StreamSchema) (*abi.CheckResult, error)
	Discover(ctx context.Context, ref modules.Ref, config json.RawMessage, names []string) (*abi.Catalog, error)
	Release(ctx context.Context, ref modules.Ref, config json.RawMessage, pipeline string) (*abi.CheckResult, error)
}

// workerService is what WorkerServer needs from the runner: the control
// calls, and the streams of CopyStream (copy.go).
type workerService interface {
	controlService
	streamService
}

// WorkerServer implements rapidbyte.v1.WorkerService.
type WorkerServer struct {
	rbv1.UnimplementedWorkerServiceServer
	svc workerService
	log hclog.Logger
}

// NewWorkerServer returns a WorkerServer backed by svc.
func NewWorkerServer(svc workerService, log hclog.Logger) *WorkerServer {
	return &WorkerServer{svc: svc, log: log}
}

func refFromProto(p *rbv1.ConnectorRef) modules.Ref {
	return modules.Ref{ID: p.GetId(), Version: p.GetVersion(), Digest: p.GetDigest()}
}

// Spec returns a connector's manifest.
func (s *WorkerServer) Spec(ctx context.Context, req *rbv1.SpecRequest) (*rbv1.SpecResponse, error) {
	man, err := s.svc.Spec(ctx, refFromProto(req.GetConnector()))
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &rbv1.SpecResponse{Manifest: protoconv.ManifestToProto(man)}, nil
}

// Check verifies a connector's config and connection. A connector that
// runs and classifies the failure yields ok=false with the error; failures
// to run it at all (unknown module, busy worker) are statuses.
func (s *WorkerServer) Check(ctx context.Context, req *rbv1.CheckRequest) (*rbv1.CheckResponse, error) {
	cfg, err := protoconv.ConfigJSON(req.GetConfig())
	if err != nil {
		return nil, toStatus(s.log, invalidf("config: %v", err))
	}
	var res *abi.CheckResult
	if p := req.GetReleasePipeline(); p != "" {
		res, err = s.svc.Release(ctx, refFromProto(req.GetConnector()), cfg, p)
	} else {
		res, err = s.svc.Check(ctx, refFromProto(req.GetConnector()), cfg, protoconv.RoleName(req.GetRole()), protoconv.StreamSchemasFromProto(req.GetStreams()))
	}
	var ge *guest.Error
	if errors.As(err, &ge) {
		return &rbv1.CheckResponse{Ok: false, Message: ge.Envelope.Message, Error: protoconv.ErrorToProto(ge.Envelope, ge.Connector)}, nil
	}
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &rbv1.CheckResponse{Ok: res.OK, Message: res.Message}, nil
}

// Discover returns a source's catalog.
func (s *WorkerServer) Discover(ctx context.Context, req *rbv1.DiscoverRequest) (*rbv1.DiscoverResponse, error) {
	cfg, err := protoconv.ConfigJSON(req.GetConfig())
	if err != nil {
		return nil, toStatus(s.log, invalidf("config: %v", err))
	}
	cat, err := s.svc.Discover(ctx, refFromProto(req.GetConnector()), cfg, req.GetNames())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &rbv1.DiscoverResponse{Catalog: protoconv.CatalogToProto(cat)}, nil
}
