package pgclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// tlsCluster starts a throwaway PostgreSQL cluster with ssl=on that
// rejects non-TLS connections, and returns its port and the CA PEM. Roles
// rb_scram, rb_scram_utf8, rb_md5 and rb_clear (none created here) must authenticate with
// scram-sha-256 (the first two), md5 and password; every other role is trusted.
func tlsCluster(t *testing.T) (int, string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		missing(t, "initdb not installed at %s", pgBin)
	}
	asPostgres := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			missing(t, "running as root without a postgres user")
		}
		asPostgres = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	dir, err := os.MkdirTemp("", "rb_pg_tls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caPEM, certPEM, keyPEM := makeCerts(t)
	for name, data := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asPostgres(filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := "\nport = " + strconv.Itoa(port) + "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '" + dir + "'\n" +
		"ssl = on\nssl_cert_file = '" + filepath.Join(dir, "server.crt") + "'\nssl_key_file = '" + filepath.Join(dir, "server.key") + "'\n" +
		"shared_buffers = 16MB\nfsync = off\n"
	appendFile(t, filepath.Join(data, "postgresql.conf"), conf)
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte("local all all trust\n"+
		"hostssl all rb_scram,rb_scram_utf8 127.0.0.1/32 scram-sha-256\nhostssl all rb_md5 127.0.0.1/32 md5\nhostssl all rb_clear 127.0.0.1/32 password\n"+
		"hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres", filepath.Join(data, "pg_hba.conf")).Run()
	}
	if out, err := asPostgres(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = asPostgres(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return port, string(caPEM)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// makeCerts returns a CA and a server certificate for DNS name localhost only.
func makeCerts(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func TestTLSModes(t *testing.T) {
	port, ca := tlsCluster(t)
	_, otherCA, _ := makeCerts(t)
	dials := 0
	// The dialer stands in for the SDK's host-proxied socket: TLS runs on
	// top of whatever net.Conn it returns.
	d := Dialer{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}}
	cases := []struct {
		name, host, mode, ca string
		ok                   bool
	}{
		{"disable is rejected by the server", "127.0.0.1", SSLDisable, "", false},
		{"require without ca", "127.0.0.1", SSLRequire, "", true},
		{"require with matching ca", "127.0.0.1", SSLRequire, ca, true},
		{"require with other ca", "127.0.0.1", SSLRequire, string(otherCA), false},
		{"verify-full", "localhost", SSLVerifyFull, ca, true},
		{"verify-full host mismatch", "127.0.0.1", SSLVerifyFull, ca, false},
		{"verify-full unknown ca", "localhost", SSLVerifyFull, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cfg := Config{Host: tc.host, Port: port, User: "postgres", Database: "postgres", SSLMode: tc.mode, CACert: tc.ca}
			conn, err := Connect(ctx, cfg, d)
			if tc.ok != (err == nil) {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			defer conn.Close(ctx)
			rows, err := Query(ctx, conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
			if err != nil || string(rows[0][0]) != "true" {
				t.Errorf("pg_stat_ssl.ssl = %v, %v", rows, err)
			}
		})
	}
	if dials == 0 {
		t.Error("custom dialer never used")
	}
}

// StartTLSCluster is tlsCluster for the external test package.
var StartTLSCluster = tlsCluster

// missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
