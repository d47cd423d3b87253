package contract

import (
	"context"
	"errors"
	"slices"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/catalog"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Manifests finds the manifest of a pipeline's connector.
type Manifests interface {
	Manifest(ctx context.Context, ref pipeline.ConnectorRef) (abi.Manifest, error)
}

// Static returns what is wrong with p (resolved configs res) that the
// connectors' manifests alone show: the source and destination configs
// against their config_schema, and partitioning against the source's
// capabilities. No connector code runs. A connector whose manifest cannot
// be found is skipped (the run's attempt reports it); an error means a
// manifest's config_schema is invalid.
func Static(ctx context.Context, ms Manifests, p *pipeline.Pipeline, res pipeline.Resolved) ([]pipeline.Problem, error) {
	var out []pipeline.Problem
	if src, err := ms.Manifest(ctx, p.Source.Use); err == nil {
		ps, err := ConfigProblems(src, res.Source, p.SourceConfigProblem)
		if err != nil {
			return nil, err
		}
		out = append(append(out, ps...), PartitionProblems(p, src)...)
	}
	if p.Destination.Use.ID == "" {
		return out, nil
	}
	if dst, err := ms.Manifest(ctx, p.Destination.Use); err == nil {
		ps, err := ConfigProblems(dst, res.Destination, p.DestinationConfigProblem)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// Plan checks p against its connectors' contracts before a run: Static
// (when ms is set), then the source's Discover, pattern expansion and
// StreamProblems. It returns the pipeline with its patterns expanded. A
// contract violation is a config error (INVALID_PIPELINE) listing every
// problem with its YAML line. When the source cannot be discovered, a
// pipeline without patterns is returned unchecked: its attempt meets the
// same failure and reports (and retries) it as any read failure; with
// patterns the failure is returned, classified, so a transient one may be
// retried.
func Plan(ctx context.Context, ms Manifests, d catalog.Discoverer, p *pipeline.Pipeline, res pipeline.Resolved) (*pipeline.Pipeline, *runerr.ConnectorError) {
	if ms != nil {
		ps, err := Static(ctx, ms, p, res)
		if err != nil {
			return nil, runerr.Classify(err)
		}
		if err := pipeline.Problems(ps); err != nil {
			return nil, invalid(err)
		}
	}
	cat, err := catalog.Discover(ctx, d, p, res.Source)
	if err != nil {
		if !p.HasPatterns() {
			return p, nil
		}
		ce := *runerr.Classify(err)
		ce.Message = "discover the source to expand stream patterns: " + ce.Message
		return nil, &ce
	}
	sel, err := catalog.Select(p, cat)
	if err != nil {
		return nil, runerr.New(runerr.CategoryConfig, "STREAM_PATTERN", "%v", err)
	}
	if err := pipeline.Problems(CheckStreams(ctx, d, p, sel.Pipeline, res.Source, cat)); err != nil {
		return nil, invalid(err)
	}
	return sel.Pipeline, nil
}

// CheckStreams is StreamProblems of planned (p as catalog.Select planned
// it) against cat, which catalog.Discover may have limited to the streams
// p names. When cat lacks one of them, the source's whole catalog is
// discovered (with source) and checked against instead: whether the
// stream's namespace was covered, and which name was meant, need every
// stream. A pipeline whose streams all exist pays nothing for this.
func CheckStreams(ctx context.Context, d catalog.Discoverer, p, planned *pipeline.Pipeline, source map[string]any, cat *rapidbytev1.Catalog) []pipeline.Problem {
	missing := slices.ContainsFunc(planned.Source.Streams, func(s pipeline.StreamConfig) bool { return find(cat, s) == nil })
	if missing && catalog.Named(p) != nil {
		if all, err := catalog.DiscoverAll(ctx, d, p, source); err == nil {
			cat = all
		}
	}
	return StreamProblems(planned, cat)
}

// invalid wraps a *pipeline.ValidationError as the run's config error.
func invalid(err error) *runerr.ConnectorError {
	var ve *pipeline.ValidationError
	if errors.As(err, &ve) {
		return runerr.New(runerr.CategoryConfig, "INVALID_PIPELINE", "%s", ve.Error())
	}
	return runerr.Classify(err)
}
