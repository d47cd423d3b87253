// Package hosttls is the host side of the sock_tls import: the TLS client
// configuration for an abi.TLSParams, and the handshake. Hosts (the worker,
// sdktest's native harness, hostnet natively) import it; guests never do,
// so crypto/tls runs natively.
package hosttls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Config returns the client configuration for p: TLSVerifyNone encrypts
// without verifying (libpq's sslmode=require), TLSVerifyCA verifies the
// chain against p.CAPEM but not the name (libpq's verify-ca), and
// TLSVerifyFull verifies both, against the system roots when p.CAPEM is
// empty.
func Config(p abi.TLSParams) (*tls.Config, error) {
	var roots *x509.CertPool
	if p.CAPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(p.CAPEM)) {
			return nil, errors.New("ca_cert: no PEM certificate found")
		}
	}
	cfg := &tls.Config{ServerName: p.ServerName, RootCAs: roots, MinVersion: tls.VersionTLS12}
	switch p.Verify {
	case abi.TLSVerifyFull:
	case abi.TLSVerifyNone:
		cfg.InsecureSkipVerify = true
	case abi.TLSVerifyCA:
		if roots == nil {
			return nil, errors.New("tls: verifying the chain needs a CA certificate")
		}
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	default:
		return nil, fmt.Errorf("tls: verify mode %q (want %s, %s or %s)", p.Verify, abi.TLSVerifyNone, abi.TLSVerifyCA, abi.TLSVerifyFull)
	}
	return cfg, nil
}

// Client runs the handshake of p on conn and returns the TLS connection.
func Client(ctx context.Context, conn net.Conn, p abi.TLSParams) (*tls.Conn, error) {
	cfg, err := Config(p)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}
