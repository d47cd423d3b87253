// Command test-noreactor is a test source built the wrong way: the
// Makefile builds it without -buildmode=c-shared, so the module is a
// wasip1 command with no _initialize export, and the host must refuse it
// at load with a message that says how to build it.
package main

import (
	"context"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

func init() {
	sdk.Serve(sdk.Connector{Source: source{}})
}

func main() {}

type source struct{}

func (source) Open(context.Context, sdk.Config) error { return nil }

func (source) Discover(context.Context) (*abi.Catalog, error) { return &abi.Catalog{}, nil }

func (source) Check(context.Context) error { return nil }

func (source) Read(context.Context, sdk.ReadRequest, sdk.Emitter) error { return nil }

func (source) Close(context.Context) error { return nil }
