package faults

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	ca.file = writePEM(t, ca.dir, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for 127.0.0.1 with usage (server or client
// auth) and returns its certificate and key files.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, ca.dir, name+".pem", "CERTIFICATE", der), writePEM(t, ca.dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// pool returns a pool trusting ca.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freshModuleCache returns a worker cache directory that shares the
// compiled code of the test cache but holds no fetched module, so the
// worker must fetch every module from the coordinator's registry.
func freshModuleCache(t *testing.T) string {
	t.Helper()
	shared := e2etest.CacheDir(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "modules" {
			continue
		}
		if err := os.Symlink(filepath.Join(shared, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// specVia asks the worker at addr for a connector's Spec: a worker without
// the module fetches it from its coordinator's registry first.
func specVia(t *testing.T, c *e2etest.Cluster, connector string) error {
	t.Helper()
	conn, err := grpc.NewClient(c.Workers[0].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.Token)
	_, err = rbv1.NewWorkerServiceClient(conn).Spec(ctx, &rbv1.SpecRequest{Connector: &rbv1.ConnectorRef{Id: connector}})
	return err
}

// TestCoordinatorMutualTLS: a coordinator with --client-ca refuses a
// worker's registry client (and the CLI) without a client certificate
// signed by that CA (the handshake fails: TLS 1.3 gives the client the
// server's alert or a broken pipe, whichever it reads first); with one the worker fetches the modules it lacks and a
// run copies a table. A registry client trusting another CA than the one
// that signed the coordinator's certificate fails with an error that says
// so. Certificates are made here with crypto/x509.
func TestCoordinatorMutualTLS(t *testing.T) {
	t.Parallel()
	e2etest.RequirePostgres(t)
	ca, other := newTestCA(t, "rapidbyte"), newTestCA(t, "other")
	coordCert, coordKey := ca.issue(t, "coordinator", x509.ExtKeyUsageServerAuth)
	workerCert, workerKey := ca.issue(t, "worker", x509.ExtKeyUsageClientAuth)
	cliCert, cliKey := ca.issue(t, "cli", x509.ExtKeyUsageClientAuth)
	strangerCert, strangerKey := other.issue(t, "stranger", x509.ExtKeyUsageClientAuth)

	// start runs a coordinator requiring client certificates and one worker
	// with no connectors of its own and the given registry client flags.
	// It returns the worker's cache directory too.
	start := func(t *testing.T, workerTLS ...string) (*e2etest.Cluster, string) {
		t.Helper()
		clientTLS := &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}
		cert, err := tls.LoadX509KeyPair(cliCert, cliKey)
		if err != nil {
			t.Fatal(err)
		}
		clientTLS.Certificates = []tls.Certificate{cert}
		cache := freshModuleCache(t)
		return e2etest.StartCluster(t, e2etest.ClusterOptions{
			CoordinatorArgs: []string{"--tls-cert", coordCert, "--tls-key", coordKey, "--client-ca", ca.file},
			WorkerArgs:      append([]string{"--connectors-dir", "", "--cache-dir", cache}, workerTLS...),
			CoordinatorTLS:  clientTLS,
		}), cache
	}

	t.Run("worker without a client certificate is refused", func(t *testing.T) {
		c, _ := start(t, "--coordinator-ca", ca.file)
		err := specVia(t, c, "source-postgres")
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connector registry unavailable") {
			t.Errorf("Spec through a registry client without a certificate = %v, want Unavailable: connector registry unavailable", err)
		}
	})
	t.Run("worker with a certificate of another CA is refused", func(t *testing.T) {
		c, _ := start(t, "--coordinator-ca", ca.file, "--coordinator-cert", strangerCert, "--coordinator-key", strangerKey)
		err := specVia(t, c, "source-postgres")
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connector registry unavailable") {
			t.Errorf("Spec through a registry client with a stranger's certificate = %v, want Unavailable: connector registry unavailable", err)
		}
	})
	t.Run("worker trusting the wrong CA says so", func(t *testing.T) {
		c, _ := start(t, "--coordinator-ca", other.file, "--coordinator-cert", workerCert, "--coordinator-key", workerKey)
		err := specVia(t, c, "source-postgres")
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("Spec through a registry client trusting another CA = %v, want Unavailable: certificate signed by unknown authority", err)
		}
	})
	t.Run("worker with a client certificate fetches modules and a run copies a table", func(t *testing.T) {
		c, cache := start(t, "--coordinator-ca", ca.file, "--coordinator-cert", workerCert, "--coordinator-key", workerKey)
		src := e2etest.NewDatabase(t, "rb_mtls_src")
		dst := e2etest.NewDatabase(t, "rb_mtls_dst")
		src.Exec(t, "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 2000) g")
		file := e2etest.Pipeline{Name: "rb_mtls", Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
			Streams: []e2etest.Stream{{Name: "items"}}}.Write(t)

		// The CLI without its certificate is refused by the TLS handshake
		// (TLS 1.3 reports the server's alert after the client's side of the
		// handshake, so the reason is the alert or a broken connection).
		res := e2etest.RunCLI(t, c.Env(), "--tls-ca", ca.file, "run", file)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "cannot reach coordinator") {
			t.Errorf("CLI without a client certificate: %s\nwant: cannot reach coordinator", res)
		}
		res = e2etest.RunCLI(t, c.Env(), "--tls-ca", ca.file, "--tls-cert", cliCert, "--tls-key", cliKey, "run", file)
		res.RequireExit(t, 0)
		e2etest.RequireSameTable(t, src, dst, "items", "items", "id", "id", "v")
		// Both modules came from the registry, over mutual TLS.
		if fetched, _ := filepath.Glob(filepath.Join(cache, "modules", "*.wasm")); len(fetched) != 2 {
			t.Errorf("worker fetched %v, want the source and destination modules", fetched)
		}
	})
}
