// Command test-careless is a deliberately careless source, for the tests
// that prove the platform enforces the connector contract: it ignores the
// stream name, the sync mode, the partition and the projection it is
// given, and emits every row in one batch whatever the batch limits say.
// Its one stream, "numbers", has the columns n (0..count-1), label and
// extra; its catalog offers full_refresh only, and its manifest declares
// no partitioning capability.
package main

import (
	"context"
	"strconv"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func init() {
	sdk.Serve(sdk.Connector{Source: &source{}})
}

func main() {}

// config is the source's config; the manifest's config_schema bounds it.
type config struct {
	// Count is the number of rows (default 1000).
	Count int64 `json:"count"`
}

var fields = []abi.Field{
	{Name: "n", Type: "int64"},
	{Name: "label", Type: "utf8", Nullable: true},
	{Name: "extra", Type: "int64", Nullable: true},
}

type source struct{ cfg config }

func (s *source) Open(_ context.Context, cfg sdk.Config) error {
	s.cfg = config{Count: 1000}
	return cfg.Decode(&s.cfg)
}

func (s *source) Discover(context.Context) (*abi.Catalog, error) {
	st := abi.Stream{Name: "numbers", SupportedSyncModes: []string{abi.SyncFullRefresh}, SourceDefinedPrimaryKey: []string{"n"}}
	for _, f := range fields {
		st.Columns = append(st.Columns, abi.Column{Name: f.Name, ArrowType: f.Type, Nullable: f.Nullable})
	}
	return &abi.Catalog{Streams: []abi.Stream{st}}, nil
}

func (s *source) Check(context.Context) error { return nil }

// Read emits rows 0..count-1 of every column in a single batch, whatever
// req asks for.
func (s *source) Read(_ context.Context, _ sdk.ReadRequest, e sdk.Emitter) error {
	b, err := e.Schema(fields)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range s.cfg.Count {
		b.Column(0).Int64().Append(i)
		buf = strconv.AppendInt(append(buf[:0], "row-"...), i, 10)
		b.Column(1).Bytes().AppendBytes(buf)
		b.Column(2).Int64().Append(i * 10)
	}
	return e.Emit(b)
}

func (s *source) Close(context.Context) error { return nil }
