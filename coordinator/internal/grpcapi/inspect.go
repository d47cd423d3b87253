package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
)

// Check item names.
const (
	itemStructure   = "structure"
	itemConnectors  = "connectors"
	itemSource      = "source"
	itemDestination = "destination"
	itemState       = "state"
)

// parse parses and resolves a request's pipeline.
func (s *CoordinatorServer) parse(yaml string, vars map[string]string) (*pipeline.Pipeline, pipeline.Resolved, error) {
	lookup := pipeline.MapLookup(vars, s.env)
	p, err := pipeline.Parse([]byte(yaml), lookup)
	if err != nil {
		return nil, pipeline.Resolved{}, err
	}
	res, err := p.Resolve(lookup)
	if err != nil {
		return nil, pipeline.Resolved{}, err
	}
	return p, res, nil
}

func connectorRef(r pipeline.ConnectorRef) *rapidbytev1.ConnectorRef {
	return &rapidbytev1.ConnectorRef{Id: r.ID, Version: r.Version}
}

// Discover returns the catalog of a pipeline's source, or of a connector
// with a config, as a worker reports it.
func (s *CoordinatorServer) Discover(ctx context.Context, r *rapidbytev1.CoordinatorServiceDiscoverRequest) (*rapidbytev1.CoordinatorServiceDiscoverResponse, error) {
	const method = "Discover"
	req := &rapidbytev1.DiscoverRequest{Connector: r.GetConnector(), Config: r.GetConfig()}
	switch {
	case r.GetPipelineYaml() != "":
		p, res, err := s.parse(r.GetPipelineYaml(), r.GetVariables())
		if err != nil {
			return nil, toStatus(s.log, method, err)
		}
		cfg, err := structpb.NewStruct(res.Source)
		if err != nil {
			return nil, toStatus(s.log, method, badRequest("source config: %v", err))
		}
		req = &rapidbytev1.DiscoverRequest{Connector: connectorRef(p.Source.Use), Config: cfg}
	case r.GetConnector().GetId() == "" && r.GetConnector().GetDigest() == "":
		return nil, toStatus(s.log, method, badRequest("pipeline_yaml or connector is required"))
	}
	resp, err := s.workers.Discover(ctx, req)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	return &rapidbytev1.CoordinatorServiceDiscoverResponse{Catalog: resp.GetCatalog()}, nil
}

// Check verifies a pipeline: its structure, that its connectors exist, that
// the source and destination accept their configs and connect, and that the
// state store answers. Every item is reported; ok is true when all pass.
func (s *CoordinatorServer) Check(ctx context.Context, r *rapidbytev1.CoordinatorServiceCheckRequest) (*rapidbytev1.CoordinatorServiceCheckResponse, error) {
	if r.GetPipelineYaml() == "" {
		return nil, toStatus(s.log, "Check", badRequest("pipeline_yaml is required"))
	}
	var items []*rapidbytev1.CheckItem
	p, res, err := s.parse(r.GetPipelineYaml(), r.GetVariables())
	if err != nil {
		var ve *pipeline.ValidationError
		if !errors.As(err, &ve) {
			return nil, toStatus(s.log, "Check", err)
		}
		items = append(items, failed(itemStructure, "pipeline is invalid",
			retry.New(retry.CategoryConfig, "INVALID_PIPELINE", "%s", ve.Error())))
	} else {
		items = append(items, &rapidbytev1.CheckItem{Name: itemStructure, Ok: true,
			Message: fmt.Sprintf("pipeline %q: %d stream(s)", p.Name, len(p.Source.Streams))})
		items = append(items, s.checkConnectors(ctx, p))
		items = append(items, s.checkConnector(ctx, itemSource, p.Source.Use, res.Source, rapidbytev1.Role_ROLE_SOURCE))
		items = append(items, s.checkConnector(ctx, itemDestination, p.Destination.Use, res.Destination, rapidbytev1.Role_ROLE_DESTINATION))
	}
	if err := s.ping(ctx); err != nil {
		items = append(items, failed(itemState, "state store unreachable", retry.Classify(err)))
	} else {
		items = append(items, &rapidbytev1.CheckItem{Name: itemState, Ok: true, Message: "state store reachable"})
	}
	ok := true
	for _, it := range items {
		ok = ok && it.GetOk()
	}
	return &rapidbytev1.CoordinatorServiceCheckResponse{Items: items, Ok: ok}, nil
}

// checkConnectors looks the pipeline's connectors up in the registry, and
// on a worker for those the registry lacks.
func (s *CoordinatorServer) checkConnectors(ctx context.Context, p *pipeline.Pipeline) *rapidbytev1.CheckItem {
	var found, missing []string
	for _, ref := range []pipeline.ConnectorRef{p.Source.Use, p.Destination.Use} {
		if m, err := s.modules.Find(registry.Ref{ID: ref.ID, Version: ref.Version}); err == nil {
			found = append(found, fmt.Sprintf("%s@%s (%s)", m.Manifest.ID, m.Manifest.Version, shortDigest(m.Manifest.Digest)))
			continue
		}
		spec, err := s.workers.Spec(ctx, &rapidbytev1.SpecRequest{Connector: connectorRef(ref)})
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", ref, err))
			continue
		}
		found = append(found, fmt.Sprintf("%s@%s (on worker)", spec.GetManifest().GetId(), spec.GetManifest().GetVersion()))
	}
	if len(missing) > 0 {
		return failed(itemConnectors, "connector not found",
			retry.New(retry.CategoryConfig, "CONNECTOR_NOT_FOUND", "%s", strings.Join(missing, "; ")))
	}
	return &rapidbytev1.CheckItem{Name: itemConnectors, Ok: true, Message: strings.Join(found, ", ")}
}

// checkConnector asks a worker to check one side's config and connection.
func (s *CoordinatorServer) checkConnector(ctx context.Context, name string, ref pipeline.ConnectorRef,
	config map[string]any, role rapidbytev1.Role,
) *rapidbytev1.CheckItem {
	cfg, err := structpb.NewStruct(config)
	if err != nil {
		return failed(name, "config cannot be sent", retry.New(retry.CategoryConfig, "BAD_CONFIG", "%v", err))
	}
	resp, err := s.workers.Check(ctx, &rapidbytev1.CheckRequest{Connector: connectorRef(ref), Config: cfg, Role: role})
	if err != nil {
		return failed(name, ref.String()+" check failed", retry.Classify(err))
	}
	msg := resp.GetMessage()
	if msg == "" {
		msg = ref.String()
	}
	return &rapidbytev1.CheckItem{Name: name, Ok: resp.GetOk(), Message: msg, Error: resp.GetError()}
}

func failed(name, msg string, ce *retry.ConnectorError) *rapidbytev1.CheckItem {
	return &rapidbytev1.CheckItem{Name: name, Ok: false, Message: msg + ": " + ce.Message, Error: protoconv.ErrorToProto(ce)}
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// ListConnectors lists the modules the coordinator serves.
func (s *CoordinatorServer) ListConnectors(context.Context, *rapidbytev1.ListConnectorsRequest) (*rapidbytev1.ListConnectorsResponse, error) {
	mods, err := s.modules.List()
	if err != nil {
		return nil, toStatus(s.log, "ListConnectors", err)
	}
	out := &rapidbytev1.ListConnectorsResponse{}
	for _, m := range mods {
		out.Connectors = append(out.Connectors, protoconv.ManifestToProto(m.Manifest))
	}
	return out, nil
}
