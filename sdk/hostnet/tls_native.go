//go:build !wasip1

package hostnet

import (
	"context"
	"net"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/hosttls"
)

// startTLSNative runs the handshake in this process, over a connection
// that is not the host's.
func startTLSNative(ctx context.Context, c net.Conn, p abi.TLSParams) (net.Conn, error) {
	return hosttls.Client(ctx, c, p)
}
