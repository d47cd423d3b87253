package hostnet

import (
	"context"
	"encoding/json"
	"errors"
	"net"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// StartTLS secures c, a connection from Dial, as p says, once the caller
// has run whatever its protocol needs before a handshake (PostgreSQL's
// SSLRequest). Through the host, the host runs the handshake and from then
// on encrypts and decrypts natively (the sock_tls import), and c itself is
// the connection to use: a wasm guest's own TLS runs at a few tens of MB/s.
// Natively it returns a crypto/tls client over c.
func StartTLS(ctx context.Context, c net.Conn, p abi.TLSParams) (net.Conn, error) {
	hc, ok := c.(*conn)
	if !ok {
		return startTLSNative(ctx, c, p)
	}
	if err := ctx.Err(); err != nil {
		return nil, hc.opErr("tls", err)
	}
	params, err := json.Marshal(p)
	if err != nil {
		return nil, hc.opErr("tls", err)
	}
	msg := make([]byte, 1024)
	switch rc := hc.h.SockTLS(hc.fd, params, msg); {
	case rc == 0:
		return c, nil
	case rc > 0:
		return nil, hc.opErr("tls", errors.New(string(msg[:rc])))
	default:
		return nil, hc.opErr("tls", errnoErr(-rc))
	}
}
