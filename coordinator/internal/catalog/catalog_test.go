package catalog

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
)

// recorder records the names each discover asked for.
type recorder struct{ asked [][]string }

func (r *recorder) Discover(_ context.Context, req *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	r.asked = append(r.asked, req.GetNames())
	return &rapidbytev1.DiscoverResponse{Catalog: &rapidbytev1.Catalog{}}, nil
}

func parse(t *testing.T, streams string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Parse([]byte(`version: "1.0"
pipeline: p
source:
  use: src
  config: {}
  streams:
`+streams+`
destination:
  use: dst
  config: {}
`), pipeline.MapLookup(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDiscoverAsksForTheNamedStreams: a pipeline naming its streams asks
// the source for those; one reading by pattern or qualifying a stream with
// its namespace, and DiscoverAll, ask for every stream.
func TestDiscoverAsksForTheNamedStreams(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}
	named := parse(t, "    - {name: users}\n    - {name: orders, partition_key: id}")
	pattern := parse(t, "    - {name: users}\n    - {name: \"public.*\"}")
	qualified := parse(t, "    - {name: users}\n    - {name: orders, namespace: sales}")
	for _, call := range []func() error{
		func() error { _, err := Discover(ctx, r, named, map[string]any{}); return err },
		func() error { _, err := Discover(ctx, r, pattern, map[string]any{}); return err },
		func() error { _, err := Discover(ctx, r, qualified, map[string]any{}); return err },
		func() error { _, err := DiscoverAll(ctx, r, named, map[string]any{}); return err },
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff([][]string{{"users", "orders"}, nil, nil, nil}, r.asked); d != "" {
		t.Errorf("names asked for (-want +got):\n%s", d)
	}
}
