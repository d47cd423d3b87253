package sdk_test

import (
	"context"
	"errors"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// counter is a minimal source: it emits the numbers 0..N-1.
type counter struct{ n int64 }

func (c *counter) Open(_ context.Context, cfg sdk.Config) error {
	var v struct {
		N int64 `json:"n"`
	}
	if err := cfg.Decode(&v); err != nil {
		return err // already a config error naming the field
	}
	if v.N < 0 {
		return sdk.ConfigError(errors.New(`config field "n" must not be negative`))
	}
	c.n = v.N
	return nil
}

func (c *counter) Discover(context.Context) (*abi.Catalog, error) {
	return &abi.Catalog{Streams: []abi.Stream{{
		Name:               "numbers",
		Columns:            []abi.Column{{Name: "n", ArrowType: "int64"}},
		SupportedSyncModes: []string{abi.SyncFullRefresh},
	}}}, nil
}

func (c *counter) Check(context.Context) error { return nil }

func (c *counter) Read(ctx context.Context, req sdk.ReadRequest, e sdk.Emitter) error {
	b, err := e.Schema([]abi.Field{{Name: "n", Type: "int64"}})
	if err != nil {
		return err
	}
	col := b.Int64(0) // hoist appenders out of the row loop
	for i := int64(0); i < c.n; i++ {
		col.Append(i)
		if b.Full() {
			if err := e.Emit(b); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := e.Emit(b); err != nil {
		return err
	}
	last := c.n - 1
	return e.Checkpoint(abi.Checkpoint{Stream: req.Stream.Name, CursorField: "n", CursorValue: &abi.CursorValue{Int: &last}})
}

func (c *counter) Close(context.Context) error { return nil }

// A connector's main package registers itself in init and has an empty
// main; `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` then
// produces the module.
func ExampleServe() {
	sdk.Serve(sdk.Connector{Source: &counter{}})
}
