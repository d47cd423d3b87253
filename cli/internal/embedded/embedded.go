// Package embedded runs a coordinator and one worker inside the CLI process, on
// loopback listeners, so the CLI talks to them over the same gRPC APIs it uses
// for a remote coordinator.
package embedded

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
)

// Config says how to run the embedded coordinator and worker.
type Config struct {
	// ConnectorsDir holds the connector modules (<id>.wasm).
	ConnectorsDir string
	// CacheDir is the worker's compilation cache directory; empty keeps the worker's default.
	CacheDir string
	// State is the coordinator's state store URL, for example sqlite:///home/u/.rapidbyte/state.db.
	State string
	// Logger receives both servers' logs.
	Logger hclog.Logger
}

// Cluster is a running coordinator and worker.
type Cluster struct {
	addr  string
	token string
}

// Start starts a worker and a coordinator on 127.0.0.1:0.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	return nil, errors.New("embedded mode is not available in this build")
}

// Addr is the coordinator's address.
func (c *Cluster) Addr() string { return c.addr }

// AuthToken is the token the coordinator expects.
func (c *Cluster) AuthToken() string { return c.token }

// Close stops both servers.
func (c *Cluster) Close() error { return nil }
