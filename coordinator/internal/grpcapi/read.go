package grpcapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/catalog"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// streamReader reads one stream on a worker with no destination.
type streamReader interface {
	Read(ctx context.Context, job relay.Job, fn func(msg *flightpb.FlightData, records uint64) error) error
}

// SetReader enables ReadStream, reading through r (the server's relay).
func (s *CoordinatorServer) SetReader(r streamReader) { s.reader = r }

// ReadStream reads one stream of a pipeline's source on a worker and sends
// its Arrow IPC messages as they come, stopping once limit rows were sent.
// Nothing is written and no run or cursor is recorded.
func (s *CoordinatorServer) ReadStream(r *rapidbytev1.ReadStreamRequest, srv grpc.ServerStreamingServer[rapidbytev1.ReadStreamResponse]) error {
	const method = "ReadStream"
	ctx := srv.Context()
	switch {
	case s.reader == nil:
		return toStatus(s.log, method, badRequest("this coordinator does not serve ReadStream"))
	case r.GetPipelineYaml() == "":
		return toStatus(s.log, method, badRequest("pipeline_yaml is required"))
	case r.GetStream() == "":
		return toStatus(s.log, method, badRequest("stream is required"))
	}
	lookup := pipeline.MapLookup(r.GetVariables(), s.env)
	p, err := pipeline.ParseSource([]byte(r.GetPipelineYaml()), lookup)
	if err != nil {
		return toStatus(s.log, method, err)
	}
	res, err := p.Resolve(lookup)
	if err != nil {
		return toStatus(s.log, method, err)
	}
	if p.HasPatterns() {
		cat, err := catalog.Discover(ctx, s.workers, p, res.Source)
		if err != nil {
			return toStatus(s.log, method, err)
		}
		sel, err := catalog.Select(p, cat)
		if err != nil {
			return toStatus(s.log, method, runerr.New(runerr.CategoryConfig, "STREAM_PATTERN", "%v", err))
		}
		p = sel.Pipeline
	}
	sc, err := findStream(p, r.GetStream())
	if err != nil {
		return toStatus(s.log, method, err)
	}
	job := relay.Job{
		RunID: "read", Attempt: 1, Pipeline: p, Stream: sc, SourceConfig: res.Source,
		Timeout: time.Duration(p.Resources.TimeoutSeconds) * time.Second,
	}
	sent := uint64(0)
	err = s.reader.Read(ctx, job, func(msg *flightpb.FlightData, records uint64) error {
		if err := srv.Send(&rapidbytev1.ReadStreamResponse{DataHeader: msg.GetDataHeader(), DataBody: msg.GetDataBody(), Records: records}); err != nil {
			return err
		}
		sent += records
		if limit := r.GetLimit(); limit > 0 && sent >= limit {
			return relay.ErrStopRead
		}
		return nil
	})
	return toStatus(s.log, method, err)
}

// findStream returns the stream of p called name (its name, or
// namespace.name), or a config error listing p's streams.
func findStream(p *pipeline.Pipeline, name string) (pipeline.StreamConfig, error) {
	var names []string
	for _, sc := range p.Source.Streams {
		full := sc.Name
		if sc.Namespace != "" {
			full = sc.Namespace + "." + sc.Name
		}
		if sc.Name == name || full == name {
			return sc, nil
		}
		names = append(names, full)
	}
	msg := fmt.Sprintf("pipeline %q has no stream %q", p.Name, name)
	if len(names) > 0 {
		msg += "; its streams: " + strings.Join(names, ", ")
	} else {
		msg += "; it lists no streams under source.streams"
	}
	return pipeline.StreamConfig{}, runerr.New(runerr.CategoryConfig, "UNKNOWN_STREAM", "%s", msg)
}
