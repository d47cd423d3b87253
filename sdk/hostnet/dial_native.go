//go:build !wasip1

package hostnet

import (
	"context"
	"net"
)

// dialNative dials from this process, for a caller outside a guest (a
// native test or tool).
func dialNative(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
