package contract

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

const header = `version: "1.0"
pipeline: p
source:
  use: src
`

const footer = `
destination:
  use: dst
  config: {}
`

var srcManifest = abi.Manifest{ID: "src", SecretFields: []string{"password"}, ConfigSchema: json.RawMessage(`{
	"type": "object", "required": ["host"], "additionalProperties": false,
	"properties": {"host": {"type": "string"}, "count": {"type": "integer", "minimum": 0},
		"password": {"type": "string", "pattern": "^[a-z]+$"}}}`)}

var cat = &rapidbytev1.Catalog{Streams: []*rapidbytev1.Stream{
	{Namespace: "public", Name: "numbers", SupportedSyncModes: []rapidbytev1.SyncMode{rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH},
		Columns: []*rapidbytev1.Column{{Name: "n"}, {Name: "label"}}},
	{Namespace: "public", Name: "events", SupportedSyncModes: []rapidbytev1.SyncMode{
		rapidbytev1.SyncMode_SYNC_MODE_FULL_REFRESH, rapidbytev1.SyncMode_SYNC_MODE_INCREMENTAL}},
}}

func parse(t *testing.T, body string) (*pipeline.Pipeline, pipeline.Resolved) {
	t.Helper()
	p, err := pipeline.Parse([]byte(header+body+footer), pipeline.MapLookup(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Resolve(pipeline.MapLookup(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

// manifests serves fixed manifests.
type manifests map[string]abi.Manifest

func (m manifests) Manifest(_ context.Context, ref pipeline.ConnectorRef) (abi.Manifest, error) {
	if man, ok := m[ref.ID]; ok {
		return man, nil
	}
	return abi.Manifest{}, errors.New("not found")
}

// discoverer serves cat (only the streams a request names, when it names
// some, as a source discovering by name does), or fails.
type discoverer struct{ err error }

func (d discoverer) Discover(_ context.Context, req *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	if len(req.GetNames()) == 0 {
		return &rapidbytev1.DiscoverResponse{Catalog: cat}, d.err
	}
	named := &rapidbytev1.Catalog{}
	for _, s := range cat.GetStreams() {
		if slices.Contains(req.GetNames(), s.GetName()) {
			named.Streams = append(named.Streams, s)
		}
	}
	return &rapidbytev1.DiscoverResponse{Catalog: named}, d.err
}

func TestPlan(t *testing.T) {
	partitioned := srcManifest
	partitioned.Capabilities.Partitions = true
	tests := []struct {
		name    string
		body    string
		man     abi.Manifest
		discErr error
		want    []string // each a line of the error, in order; nil = no error
	}{
		{name: "valid", body: "  config: {host: h, count: 3}\n  streams:\n    - {name: numbers, columns: [n]}\n    - {name: events, sync_mode: incremental, cursor_field: id}"},
		{name: "unknown stream", body: "  config: {host: h}\n  streams:\n    - {name: numbrs}",
			want: []string{`pipeline.yaml:7:14: source.streams[0].name: the source has no stream "numbrs" (did you mean "numbers"?)`}},
		{name: "unknown qualified stream", body: "  config: {host: h}\n  streams:\n    - {name: public.evnts}",
			want: []string{`source.streams[0].name: the source has no stream "public.evnts" (did you mean "public.events"?)`}},
		{name: "namespace discover did not cover", body: "  config: {host: h}\n  streams:\n    - {name: tbl, namespace: other}"},
		{name: "unsupported sync mode", body: "  config: {host: h}\n  streams:\n    - {name: numbers, sync_mode: incremental, cursor_field: n}",
			want: []string{`pipeline.yaml:7:34: source.streams[0].sync_mode: stream "numbers" supports sync_mode full_refresh, not incremental`}},
		{name: "unknown column", body: "  config: {host: h}\n  streams:\n    - {name: numbers, columns: [n, lable]}",
			want: []string{`source.streams[0].columns: stream "numbers" has no column "lable" (did you mean "label"?)`}},
		{name: "config against schema", body: "  config:\n    count: -5\n    hots: h\n  streams:\n    - {name: numbers}",
			want: []string{"pipeline.yaml:6:5: source.config: missing property 'host'", "additional properties 'hots' not allowed",
				"pipeline.yaml:6:12: source.config.count: minimum: got -5, want 0 (config_schema of src)"}},
		{name: "secret never quoted", body: "  config: {host: h, password: S3cret}\n  streams:\n    - {name: numbers}",
			want: []string{"source.config.password: invalid value for a secret field (pattern rule; value not shown)"}},
		{name: "partitions need the capability", body: "  config: {host: h}\n  streams:\n    - {name: numbers, partition_key: n}\n    - {name: events, partitions: 2}",
			want: []string{"pipeline.yaml:7:38: source.streams[0].partition_key: source src does not support partitioned reads",
				"pipeline.yaml:8:34: source.streams[1].partitions: source src does not support partitioned reads"}},
		{name: "declared partitions", man: partitioned, body: "  config: {host: h}\n  streams:\n    - {name: numbers, partition_key: n}"},
		{name: "undiscoverable source runs unchecked", discErr: errors.New("connection refused"),
			body: "  config: {host: h}\n  streams:\n    - {name: numbrs}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, res := parse(t, tc.body)
			man := tc.man
			if man.ID == "" {
				man = srcManifest
			}
			out, ce := Plan(context.Background(), manifests{"src": man}, discoverer{err: tc.discErr}, p, res)
			if tc.want == nil {
				if ce != nil {
					t.Fatalf("unexpected error: %v", ce.Message)
				}
				if out == nil || len(out.Source.Streams) != len(p.Source.Streams) {
					t.Fatalf("planned pipeline %v", out)
				}
				return
			}
			if ce == nil || ce.Category != "config" || ce.Code != "INVALID_PIPELINE" {
				t.Fatalf("want a config INVALID_PIPELINE error, got %+v", ce)
			}
			if strings.Contains(ce.Message, "S3cret") {
				t.Errorf("secret in the message: %s", ce.Message)
			}
			rest := ce.Message
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error lacks %q (in order):\n%s", w, ce.Message)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
