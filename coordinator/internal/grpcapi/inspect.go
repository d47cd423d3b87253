package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/catalog"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/contract"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// Check item names.
const (
	itemStructure   = "structure"
	itemConnectors  = "connectors"
	itemSource      = "source"
	itemDestination = "destination"
	itemStreams     = "streams"
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
// with a config, as a worker reports it. A pipeline needs only its source
// section; the streams it lists (patterns expanded) filter the catalog.
func (s *CoordinatorServer) Discover(ctx context.Context, r *rapidbytev1.CoordinatorServiceDiscoverRequest) (*rapidbytev1.CoordinatorServiceDiscoverResponse, error) {
	const method = "Discover"
	if r.GetPipelineYaml() == "" {
		if r.GetConnector().GetId() == "" && r.GetConnector().GetDigest() == "" {
			return nil, toStatus(s.log, method, badRequest("pipeline_yaml or connector is required"))
		}
		resp, err := s.workers.Discover(ctx, &rapidbytev1.DiscoverRequest{Connector: r.GetConnector(), Config: r.GetConfig()})
		if err != nil {
			return nil, toStatus(s.log, method, err)
		}
		return &rapidbytev1.CoordinatorServiceDiscoverResponse{Catalog: resp.GetCatalog()}, nil
	}
	lookup := pipeline.MapLookup(r.GetVariables(), s.env)
	p, err := pipeline.ParseSource([]byte(r.GetPipelineYaml()), lookup)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	res, err := p.Resolve(lookup)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	cat, err := catalog.Discover(ctx, s.workers, p, res.Source)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	sel, err := catalog.Select(p, cat)
	if err != nil {
		return nil, toStatus(s.log, method, runerr.New(runerr.CategoryConfig, "STREAM_PATTERN", "%v", err))
	}
	out := &rapidbytev1.CoordinatorServiceDiscoverResponse{Catalog: sel.Catalog, Pipeline: p.Name, Source: p.Source.Use.String()}
	for _, ps := range sel.Patterns {
		out.Selections = append(out.Selections, &rapidbytev1.StreamSelection{
			Pattern: ps.Pattern, Namespace: ps.Table.Namespace, Name: ps.Table.Name,
		})
	}
	return out, nil
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
			runerr.New(runerr.CategoryConfig, "INVALID_PIPELINE", "%s", ve.Error())))
	} else {
		items = append(items, &rapidbytev1.CheckItem{Name: itemStructure, Ok: true,
			Message: fmt.Sprintf("pipeline %q: %d stream(s)", p.Name, len(p.Source.Streams))})
		ms := contract.RegistryManifests{Registry: s.modules, Workers: s.workers}
		items = append(items, s.checkConnectors(ctx, p))
		srcMan, srcErr := ms.Manifest(ctx, p.Source.Use)
		srcSchema := configProblems(srcMan, srcErr, res.Source, p.SourceConfigProblem)
		items = append(items, s.checkConnector(ctx, itemSource, p.Source.Use, res.Source, rapidbytev1.Role_ROLE_SOURCE, nil, srcSchema))
		item, sel, cat := s.checkStreams(ctx, p, res.Source, srcMan, srcErr, srcSchema != nil)
		items = append(items, item)
		dstMan, dstErr := ms.Manifest(ctx, p.Destination.Use)
		items = append(items, s.checkConnector(ctx, itemDestination, p.Destination.Use, res.Destination, rapidbytev1.Role_ROLE_DESTINATION,
			streamSchemas(sel, cat), configProblems(dstMan, dstErr, res.Destination, p.DestinationConfigProblem)))
	}
	if err := s.ping(ctx); err != nil {
		items = append(items, failed(itemState, "state store unreachable", runerr.Classify(err)))
	} else {
		items = append(items, &rapidbytev1.CheckItem{Name: itemState, Ok: true, Message: "state store reachable"})
	}
	ok := true
	for _, it := range items {
		ok = ok && it.GetOk()
	}
	return &rapidbytev1.CoordinatorServiceCheckResponse{Items: items, Ok: ok}, nil
}

// checkStreams checks the pipeline's streams against the source's
// contract (see contract.StreamProblems and PartitionProblems) and lists
// what each stream pattern selects. It returns the expanded pipeline and
// the catalog, or nils when the source could not be discovered. With
// badConfig (the source config fails its config_schema) the source is not
// discovered: no connector code runs on a config its schema rejects.
func (s *CoordinatorServer) checkStreams(ctx context.Context, p *pipeline.Pipeline, source map[string]any,
	man abi.Manifest, manErr error, badConfig bool,
) (*rapidbytev1.CheckItem, *pipeline.Pipeline, *rapidbytev1.Catalog) {
	var ps []pipeline.Problem
	if manErr == nil {
		ps = contract.PartitionProblems(p, man)
	}
	if badConfig {
		ce := runerr.New(runerr.CategoryConfig, "INVALID_CONFIG", "the source config does not match its config_schema")
		if err := pipeline.Problems(ps); err != nil {
			ce = runerr.New(runerr.CategoryConfig, "INVALID_PIPELINE", "%s", err.Error())
		}
		return failed(itemStreams, "not discovered: the source config does not match its config_schema", ce), nil, nil
	}
	cat, err := catalog.Discover(ctx, s.workers, p, source)
	if err != nil {
		return failed(itemStreams, "discover failed", runerr.Classify(err)), nil, nil
	}
	sel, err := catalog.Select(p, cat)
	if err != nil {
		return failed(itemStreams, "stream pattern", runerr.New(runerr.CategoryConfig, "STREAM_PATTERN", "%v", err)), nil, nil
	}
	ps = append(ps, contract.CheckStreams(ctx, s.workers, p, sel.Pipeline, source, cat)...)
	if err := pipeline.Problems(ps); err != nil {
		return failed(itemStreams, "streams do not match the source", runerr.New(runerr.CategoryConfig, "INVALID_PIPELINE", "%s", err.Error())),
			sel.Pipeline, cat
	}
	var names []string
	for _, st := range sel.Pipeline.Source.Streams {
		names = append(names, st.Name)
	}
	msg := fmt.Sprintf("%d stream(s): %s", len(names), strings.Join(names, ", "))
	var parts []string
	for _, sc := range p.Source.Streams {
		if sc.Pattern == "" {
			continue
		}
		var tables []string
		for _, ps := range sel.Patterns {
			if ps.Pattern == sc.Pattern {
				tables = append(tables, ps.Table.String())
			}
		}
		parts = append(parts, fmt.Sprintf("%q selects %s", sc.Pattern, strings.Join(tables, ", ")))
	}
	if len(parts) > 0 {
		msg = fmt.Sprintf("%d stream(s): %s", len(names), strings.Join(parts, "; "))
	}
	return &rapidbytev1.CheckItem{Name: itemStreams, Ok: true, Message: msg}, sel.Pipeline, cat
}

// configProblems checks a connector config against its manifest's
// config_schema; nil when the manifest was not found (the connectors item
// reports that).
func configProblems(m abi.Manifest, manErr error, cfg map[string]any,
	at func(path []string, format string, args ...any) pipeline.Problem,
) error {
	if manErr != nil {
		return nil
	}
	ps, err := contract.ConfigProblems(m, cfg, at)
	if err != nil {
		return err
	}
	return pipeline.Problems(ps)
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
			runerr.New(runerr.CategoryConfig, "CONNECTOR_NOT_FOUND", "%s", strings.Join(missing, "; ")))
	}
	return &rapidbytev1.CheckItem{Name: itemConnectors, Ok: true, Message: strings.Join(found, ", ")}
}

// streamSchemas returns the pipeline's streams (patterns expanded) with
// their (projected) source columns from cat, so that the destination's
// check reports schema drift before any row moves; nil when the source
// could not be discovered (the streams item reports why).
func streamSchemas(p *pipeline.Pipeline, cat *rapidbytev1.Catalog) []*rapidbytev1.StreamSchema {
	if p == nil || cat == nil {
		return nil
	}
	var out []*rapidbytev1.StreamSchema
	for _, st := range p.Source.Streams {
		for _, cs := range cat.GetStreams() {
			if cs.GetName() != st.Name || st.Namespace != "" && cs.GetNamespace() != st.Namespace {
				continue
			}
			ss := &rapidbytev1.StreamSchema{Stream: relay.StreamSpec(p, st)}
			for _, c := range cs.GetColumns() {
				if len(st.Columns) == 0 || slices.Contains(st.Columns, c.GetName()) {
					ss.Columns = append(ss.Columns, c)
				}
			}
			out = append(out, ss)
			break
		}
	}
	return out
}

// checkConnector asks a worker to check one side's config and connection
// (and, for a destination, the schema drift of streams).
func (s *CoordinatorServer) checkConnector(ctx context.Context, name string, ref pipeline.ConnectorRef,
	config map[string]any, role rapidbytev1.Role, streams []*rapidbytev1.StreamSchema, schemaErr error,
) *rapidbytev1.CheckItem {
	if schemaErr != nil {
		// The connector is not asked to check a config its own schema
		// rejects.
		var ve *pipeline.ValidationError
		if errors.As(schemaErr, &ve) {
			return failed(name, ref.String()+" config does not match its config_schema",
				runerr.New(runerr.CategoryConfig, "INVALID_CONFIG", "%s", ve.Error()))
		}
		return failed(name, ref.String()+" config_schema", runerr.Classify(schemaErr))
	}
	cfg, err := structpb.NewStruct(config)
	if err != nil {
		return failed(name, "config cannot be sent", runerr.New(runerr.CategoryConfig, "BAD_CONFIG", "%v", err))
	}
	resp, err := s.workers.Check(ctx, &rapidbytev1.CheckRequest{Connector: connectorRef(ref), Config: cfg, Role: role, Streams: streams})
	if err != nil {
		return failed(name, ref.String()+" check failed", runerr.Classify(err))
	}
	msg := resp.GetMessage()
	if msg == "" {
		msg = ref.String()
	}
	return &rapidbytev1.CheckItem{Name: name, Ok: resp.GetOk(), Message: msg, Error: resp.GetError()}
}

func failed(name, msg string, ce *runerr.ConnectorError) *rapidbytev1.CheckItem {
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
