//go:build wasip1

package pgclient

import (
	"context"
	"errors"
	"net"
)

// dialNative refuses: a guest has no sockets of its own and must dial
// through the host (hostnet.Dial). Keeping net.Dialer out of guests keeps
// its resolver out of every module.
func dialNative(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("pgclient: a guest needs a Dialer with Dial (hostnet.Dial)")
}
