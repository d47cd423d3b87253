package pgclient_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgconnector"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
)

// TestTLSThroughHostSockets runs the connectors through the SDK's native
// harness, whose sockets are the host's (hostnet polling), with TLS on top.
func TestTLSThroughHostSockets(t *testing.T) {
	port, ca := pgclient.StartTLSCluster(t)
	cfg := func(mode, host, caPEM string) json.RawMessage {
		raw, _ := json.Marshal(map[string]any{"host": host, "port": port, "user": "postgres", "database": "postgres",
			"sslmode": mode, "ca_cert": caPEM, "password": "not-used-but-secret"})
		return raw
	}
	ctx := context.Background()
	src := &sdktest.NativeHarness{Connector: sdk.Connector{Source: pgconnector.NewSource()}}
	if err := src.Check(ctx, cfg(pgclient.SSLVerifyFull, "localhost", ca)); err != nil {
		t.Errorf("verify-full check: %v", err)
	}
	dst := &sdktest.NativeHarness{Connector: sdk.Connector{Destination: pgconnector.NewDestination()}}
	if err := dst.Check(ctx, cfg(pgclient.SSLRequire, "127.0.0.1", "")); err != nil {
		t.Errorf("require check: %v", err)
	}
	err := src.Check(ctx, cfg(pgclient.SSLDisable, "127.0.0.1", ""))
	if e := sdk.Classify(err); err == nil || e.Envelope.Category != abi.CategoryAuth {
		t.Errorf("plaintext against a TLS-only server: %v, want auth error (pg_hba reject)", err)
	}
}
