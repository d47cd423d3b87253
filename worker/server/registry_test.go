package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
)

// tokenRegistry serves one module and requires a bearer token.
type tokenRegistry struct {
	rbv1.UnimplementedConnectorRegistryServiceServer
	token string
	wasm  []byte
}

func (r *tokenRegistry) FetchModule(_ *rbv1.FetchModuleRequest, stream grpc.ServerStreamingServer[rbv1.FetchModuleResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+r.token {
		return status.Error(codes.Unauthenticated, "bad token")
	}
	half := len(r.wasm) / 2
	if err := stream.Send(&rbv1.FetchModuleResponse{Manifest: &rbv1.ConnectorManifest{Id: "source-r"}, Chunk: r.wasm[:half]}); err != nil {
		return err
	}
	return stream.Send(&rbv1.FetchModuleResponse{Chunk: r.wasm[half:]})
}

func TestModuleFetchedFromCoordinatorWithToken(t *testing.T) {
	wasm := guesttest.Wasm(guesttest.Manifest("source-r", "2.0.0", abi.RoleSource))
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := grpc.NewServer()
	rbv1.RegisterConnectorRegistryServiceServer(reg, &tokenRegistry{token: "tok", wasm: wasm})
	go func() { _ = reg.Serve(lis) }()
	t.Cleanup(reg.Stop)

	w := startWorker(t, func(c *Config) { c.CoordinatorAddr = lis.Addr().String(); c.AuthToken = "tok" }, nil)
	ctx := metadata.AppendToOutgoingContext(testCtx(t), "authorization", "Bearer tok")
	client := rbv1.NewWorkerServiceClient(w.dial(t))
	spec, err := client.Spec(ctx, &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: "source-r", Digest: digest}})
	if err != nil {
		t.Fatal(err)
	}
	if spec.GetManifest().GetVersion() != "2.0.0" || spec.GetManifest().GetDigest() != digest {
		t.Errorf("manifest = %v", spec.GetManifest())
	}
	// A digest the registry does not have is rejected, not silently replaced.
	other := "sha256:" + strings.Repeat("0", 64)
	_, err = client.Spec(ctx, &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: "source-r", Digest: other}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("wrong digest: %v, want FailedPrecondition (digest mismatch)", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad listen", func(c *Config) { c.Listen = "nope" }, "listen"},
		{"missing connectors dir", func(c *Config) { c.ConnectorsDir = "/does/not/exist" }, "connectors dir"},
		{"cert without key", func(c *Config) { c.TLSCert = "x.pem" }, "tls cert and tls key"},
		{"zero streams", func(c *Config) { c.MaxStreams = 0 }, "max streams"},
		{"negative drain", func(c *Config) { c.DrainTimeout = -1 }, "drain timeout"},
		{"no cache dir", func(c *Config) { c.CacheDir = "" }, "cache dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.CacheDir = t.TempDir()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	// Every problem is listed at once.
	cfg := Default()
	cfg.Listen, cfg.MaxStreams = "nope", 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "max streams") {
		t.Errorf("Validate() = %v, want both problems", err)
	}
}

// TestModuleFetchedOverTLS checks that with CoordinatorCAFile the worker
// fetches modules from a TLS coordinator, verifying it (the token never
// travels in clear), and that without it the fetch fails.
func TestModuleFetchedOverTLS(t *testing.T) {
	wasm := guesttest.Wasm(guesttest.Manifest("source-r", "2.0.0", abi.RoleSource))
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	certFile, keyFile, _ := selfSigned(t)
	creds, err := credentials.NewServerTLSFromFile(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := grpc.NewServer(grpc.Creds(creds))
	rbv1.RegisterConnectorRegistryServiceServer(reg, &tokenRegistry{token: "tok", wasm: wasm})
	go func() { _ = reg.Serve(lis) }()
	t.Cleanup(reg.Stop)

	for _, tc := range []struct {
		name string
		ca   string
		ok   bool
	}{{"with the CA", certFile, true}, {"plaintext", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWorker(t, func(c *Config) {
				c.CoordinatorAddr, c.AuthToken, c.CoordinatorCAFile = lis.Addr().String(), "tok", tc.ca
			}, nil)
			ctx := metadata.AppendToOutgoingContext(testCtx(t), "authorization", "Bearer tok")
			_, err := rbv1.NewWorkerServiceClient(w.dial(t)).Spec(ctx, &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: "source-r", Digest: digest}})
			if tc.ok && err != nil {
				t.Fatalf("Spec over TLS: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("a plaintext client fetched from a TLS coordinator")
			}
		})
	}
}
