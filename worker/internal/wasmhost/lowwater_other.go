//go:build !linux

package wasmhost

import (
	"errors"
	"net"
)

// setLowWater is not supported here: Linux's epoll honours SO_RCVLOWAT for
// readiness, which is what the mark is for; elsewhere reads wake as they
// always did.
func setLowWater(*net.TCPConn, int) error {
	return errors.New("receive low-water mark not supported on this platform")
}
