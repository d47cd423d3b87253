//go:build !wasip1

package pgclient

import (
	"context"
	"net"
)

// dialNative is the platform's dialer, for a Dialer without Dial outside a
// guest.
func dialNative(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
