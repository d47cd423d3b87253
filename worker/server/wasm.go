package server

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// newHost creates the wazero runtime, with its compilation cache in cfg.CacheDir.
func newHost(ctx context.Context, cfg Config, log hclog.Logger) (host, error) {
	return wasmhost.New(ctx, wasmhost.Config{CacheDir: cfg.CacheDir, Logger: log})
}
