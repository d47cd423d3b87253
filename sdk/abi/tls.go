package abi

// TLS verification modes of TLSParams.
const (
	// TLSVerifyNone encrypts without checking the server's certificate.
	TLSVerifyNone = "none"
	// TLSVerifyCA checks the certificate chain against CAPEM, not the name.
	TLSVerifyCA = "ca"
	// TLSVerifyFull checks the chain against CAPEM (or the host's roots
	// when empty) and that the certificate names ServerName.
	TLSVerifyFull = "full"
)

// TLSParams are the parameters of the sock_tls import (as JSON): how the
// host secures a guest's socket. The guest runs whatever its protocol needs
// before the handshake (PostgreSQL's SSLRequest) itself; the host runs the
// handshake and then the TLS record layer natively, which a guest does
// hundreds of times slower (docs/rationale.md).
type TLSParams struct {
	// ServerName is sent as SNI and, with TLSVerifyFull, checked against
	// the certificate.
	ServerName string `json:"server_name"`
	// Verify is TLSVerifyNone, TLSVerifyCA or TLSVerifyFull.
	Verify string `json:"verify"`
	// CAPEM holds the PEM certificates the chain must lead to.
	CAPEM string `json:"ca_pem,omitempty"`
}
