//go:build wasip1

package hostnet

import (
	"context"
	"errors"
	"net"
)

// dialNative refuses: a guest has no sockets of its own, and a context
// without the host's runtime means Dial was called outside a connector
// invocation. Keeping net.Dialer out of guests also keeps its resolver
// out of every module.
func dialNative(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("hostnet: Dial needs the context of a connector invocation")
}
