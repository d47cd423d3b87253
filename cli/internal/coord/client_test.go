package coord

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

type connectorLister struct {
	rapidbytev1.UnimplementedCoordinatorServiceServer
	auth chan string
}

func (c *connectorLister) ListConnectors(ctx context.Context, _ *rapidbytev1.ListConnectorsRequest) (*rapidbytev1.ListConnectorsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.auth <- strings.Join(md.Get("authorization"), ",")
	return &rapidbytev1.ListConnectorsResponse{Connectors: []*rapidbytev1.ConnectorManifest{{Id: "source-postgres"}}}, nil
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rapidbyte-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestDialTLSWithToken(t *testing.T) {
	cert, pool := selfSigned(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	fake := &connectorLister{auth: make(chan string, 1)}
	rapidbytev1.RegisterCoordinatorServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	addr := lis.Addr().String()

	conn, err := Dial(ctx, Options{Addr: addr, AuthToken: "tok", TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Coordinator.ListConnectors(ctx, &rapidbytev1.ListConnectorsRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-fake.auth; got != "Bearer tok" {
		t.Errorf("authorization = %q, want the bearer token", got)
	}

	// Plaintext against a TLS server fails fast, with a reason.
	_, err = Dial(ctx, Options{Addr: addr, DialTimeout: 3 * time.Second})
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "cannot reach coordinator at "+addr+": ") {
		t.Errorf("plaintext dial of a TLS server: %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	// A listener that never answers the HTTP/2 handshake.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = Dial(context.Background(), Options{Addr: lis.Addr().String(), DialTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dial took %s", d)
	}
}
