package server

import (
	"context"
	"net"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// newHost creates the wazero runtime, with its compilation cache in
// cfg.CacheDir and the operator's network policy over guest dials.
func newHost(ctx context.Context, cfg Config, log hclog.Logger) (host, error) {
	return wasmhost.New(ctx, wasmhost.Config{CacheDir: cfg.CacheDir, Logger: log, Net: cfg.netPolicy(), MemoryLimitMiB: cfg.GuestMemoryMiB,
		ModuleCacheBytes: int64(cfg.ModuleCacheMiB) << 20})
}

// netPolicy is the policy guests dial under: wasmhost.DefaultDeny, the
// worker's own listen addresses and its coordinator's, DenyHosts, and
// AllowHosts when set.
func (c Config) netPolicy() wasmhost.NetPolicy {
	deny := append([]string{}, wasmhost.DefaultDeny...)
	for _, a := range []string{c.Listen, c.MetricsListen, c.CoordinatorAddr} {
		if _, _, err := net.SplitHostPort(a); err == nil { // not a Unix socket
			deny = append(deny, a)
		}
	}
	return wasmhost.NetPolicy{Deny: append(deny, c.DenyHosts...), Allow: c.AllowHosts}
}
