// Command dest-postgres is the PostgreSQL destination connector, built as a
// WASI reactor module: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package main

import (
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgconnector"
	"github.com/rapidbyte/rapidbyte/sdk"
)

func init() { sdk.Serve(sdk.Connector{Destination: pgconnector.NewDestination()}) }

func main() {}
