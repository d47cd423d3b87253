package server

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rapidbyte/rapidbyte/worker/certtest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, returning
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert, pool := certtest.SelfSigned(t, "worker")
	certFile, keyFile = certtest.Files(t, cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	w := startWorker(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile }, nil)
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(w.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(testCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over TLS: %v %v", resp, err)
	}
	// A plaintext client cannot talk to a TLS worker.
	if _, err := healthpb.NewHealthClient(w.dial(t)).Check(testCtx(t), &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("plaintext call to a TLS worker succeeded")
	}
}

// TestMutualTLS checks --client-ca: a TLS client without a certificate
// signed by the client CA is refused; one with such a certificate (as the
// coordinator's --worker-cert) is served.
func TestMutualTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	w := startWorker(t, func(c *Config) { c.TLSCert, c.TLSKey, c.ClientCAFile = certFile, keyFile, certFile }, nil)
	clientCert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{{"no client certificate", nil, false}, {"client certificate", []tls.Certificate{clientCert}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: tc.certs, MinVersion: tls.VersionTLS12})
			conn, err := grpc.NewClient(w.addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = healthpb.NewHealthClient(conn).Check(testCtx(t), &healthpb.HealthCheckRequest{})
			if (err == nil) != tc.ok {
				t.Fatalf("health check: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
