package coord

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/certtest"
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

func TestDialTLSWithToken(t *testing.T) {
	cert, pool := certtest.SelfSigned(t, "rapidbyte-test")
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
