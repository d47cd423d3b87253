package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// DropChangeStream drops a pipeline's replication slot and publication
// through its source connector (a release-mode check on a worker) and
// forgets its cdc cursor, holding the pipeline's lease meanwhile.
func (s *CoordinatorServer) DropChangeStream(ctx context.Context, r *rapidbytev1.DropChangeStreamRequest) (*rapidbytev1.DropChangeStreamResponse, error) {
	const method = "DropChangeStream"
	if r.GetPipelineYaml() == "" {
		return nil, toStatus(s.log, method, badRequest("pipeline_yaml is required"))
	}
	p, res, err := s.parse(r.GetPipelineYaml(), r.GetVariables())
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	cfg, err := structpb.NewStruct(res.Source)
	if err != nil {
		return nil, toStatus(s.log, method, runerr.New(runerr.CategoryConfig, "BAD_CONFIG", "source config: %v", err))
	}
	release := func(ctx context.Context) (string, error) {
		resp, err := s.workers.Check(ctx, &rapidbytev1.CheckRequest{
			Connector: connectorRef(p.Source.Use), Config: cfg, Role: rapidbytev1.Role_ROLE_SOURCE, ReleasePipeline: p.Name,
		})
		if err != nil {
			return "", runerr.Classify(err)
		}
		if !resp.GetOk() {
			if ce := protoconv.ErrorFromProto(resp.GetError()); ce != nil {
				return "", ce
			}
			return "", runerr.New(runerr.CategoryInternal, "RELEASE_FAILED", "%s", resp.GetMessage())
		}
		return resp.GetMessage(), nil
	}
	msg, deleted, err := s.runs.DropChangeStream(ctx, p, release)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	return &rapidbytev1.DropChangeStreamResponse{Pipeline: p.Name, Message: msg, CursorDeleted: deleted}, nil
}
