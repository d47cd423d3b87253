//go:build wasip1

package hostnet

import (
	"context"
	"errors"
	"net"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// startTLSNative refuses: a guest's connections are the host's, and a
// guest runs no TLS of its own.
func startTLSNative(context.Context, net.Conn, abi.TLSParams) (net.Conn, error) {
	return nil, errors.New("hostnet: StartTLS needs a connection from Dial")
}
