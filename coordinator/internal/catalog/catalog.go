package catalog

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/structpb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
)

// Discoverer asks some worker for a source's catalog (dispatch.Pool).
type Discoverer interface {
	Discover(ctx context.Context, req *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error)
}

// Discover returns the catalog of p's source, whose resolved config is
// source. When p names every stream it reads (see Named), the source is
// asked for those only: planning then costs the pipeline's streams, not
// every table of the source (a source that cannot discover by name lists
// everything, which Select narrows as before).
func Discover(ctx context.Context, d Discoverer, p *pipeline.Pipeline, source map[string]any) (*rapidbytev1.Catalog, error) {
	return discover(ctx, d, p, source, Named(p))
}

// DiscoverAll returns the catalog of every stream of p's source.
func DiscoverAll(ctx context.Context, d Discoverer, p *pipeline.Pipeline, source map[string]any) (*rapidbytev1.Catalog, error) {
	return discover(ctx, d, p, source, nil)
}

// Named returns the names of p's streams when it names each (no
// pattern) without a namespace, or nil when it reads by pattern, lists no
// stream or qualifies one: a source may discover only its configured
// namespace and still read another, so a qualified stream missing from a
// catalog by name would take a second, whole discover to check.
func Named(p *pipeline.Pipeline) []string {
	if p.HasPatterns() || slices.ContainsFunc(p.Source.Streams, func(s pipeline.StreamConfig) bool { return s.Namespace != "" }) {
		return nil
	}
	var names []string
	for _, s := range p.Source.Streams {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	return names
}

func discover(ctx context.Context, d Discoverer, p *pipeline.Pipeline, source map[string]any, names []string) (*rapidbytev1.Catalog, error) {
	cfg, err := structpb.NewStruct(source)
	if err != nil {
		return nil, fmt.Errorf("source config: %w", err)
	}
	resp, err := d.Discover(ctx, &rapidbytev1.DiscoverRequest{
		Connector: &rapidbytev1.ConnectorRef{Id: p.Source.Use.ID, Version: p.Source.Use.Version},
		Config:    cfg,
		Names:     names,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCatalog(), nil
}

// Tables lists the catalog's streams as tables, in catalog order.
func Tables(cat *rapidbytev1.Catalog) []pipeline.Table {
	out := make([]pipeline.Table, 0, len(cat.GetStreams()))
	for _, s := range cat.GetStreams() {
		out = append(out, pipeline.Table{Namespace: s.GetNamespace(), Name: s.GetName()})
	}
	return out
}

// Selection is what a pipeline selects from its source's catalog.
type Selection struct {
	// Pipeline is the pipeline with its stream patterns expanded.
	Pipeline *pipeline.Pipeline
	// Catalog holds the selected streams in the pipeline's order; with no
	// stream entries, the whole catalog.
	Catalog *rapidbytev1.Catalog
	// Patterns say which pattern selected which table.
	Patterns []pipeline.Selection
}

// Select expands p's patterns over cat and keeps the catalog streams the
// pipeline names. A stream entry the catalog lacks selects nothing here (the
// run reports it); a pattern that selects nothing is an error naming it.
func Select(p *pipeline.Pipeline, cat *rapidbytev1.Catalog) (Selection, error) {
	if len(p.Source.Streams) == 0 {
		return Selection{Pipeline: p, Catalog: cat}, nil
	}
	expanded, sels, err := pipeline.Expand(p, Tables(cat))
	if err != nil {
		return Selection{}, err
	}
	out := &rapidbytev1.Catalog{}
	used := map[*rapidbytev1.Stream]bool{}
	planned := *expanded
	planned.Source.Streams = slices.Clone(expanded.Source.Streams)
	for i, sc := range planned.Source.Streams {
		for _, st := range cat.GetStreams() {
			if !used[st] && st.GetName() == sc.Name && (sc.Namespace == "" || sc.Namespace == st.GetNamespace()) {
				used[st] = true
				out.Streams = append(out.Streams, st)
				planned.Source.Streams[i].EstimatedBytes = st.GetEstimatedBytes()
				break
			}
		}
	}
	return Selection{Pipeline: &planned, Catalog: out, Patterns: sels}, nil
}
