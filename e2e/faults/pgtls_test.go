package faults

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// pgBinDir holds initdb and pg_ctl (Debian's PostgreSQL 15).
const pgBinDir = "/usr/lib/postgresql/15/bin"

// startTLSPostgres starts a throwaway PostgreSQL cluster that accepts only
// TLS connections over TCP, with a server certificate for 127.0.0.1 issued
// by ca, and returns its port.
func startTLSPostgres(t *testing.T, ca *testCA) int {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBinDir, "initdb")); err != nil {
		e2etest.Missing(t, "initdb not installed at %s", pgBinDir)
	}
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			e2etest.Missing(t, "running as root without a postgres user")
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	dir, err := os.MkdirTemp("", "rb_e2e_pgtls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	cert, key := ca.issue(t, "postgres", x509.ExtKeyUsageServerAuth)
	for _, f := range []string{cert, key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, err := run(filepath.Join(pgBinDir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	conf := strings.Join([]string{"", "port = " + strconv.Itoa(port), "listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + dir + "'", "ssl = on",
		"ssl_cert_file = '" + filepath.Join(dir, filepath.Base(cert)) + "'",
		"ssl_key_file = '" + filepath.Join(dir, filepath.Base(key)) + "'",
		"shared_buffers = 16MB", "fsync = off", ""}, "\n")
	if err := appendTo(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		t.Fatal(err)
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres", filepath.Join(data, "pg_hba.conf")).Run()
	}
	if out, err := run(filepath.Join(pgBinDir, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = run(filepath.Join(pgBinDir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run() })
	return port
}

func appendTo(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// TestPostgresOverTLS copies a table between two databases of a server
// that refuses plaintext, through the real connector modules: the source
// verifies the server's certificate against its CA (verify-full), the
// destination encrypts without verifying (require). The host runs both
// handshakes and the record layer (sock_tls); a certificate from another
// CA fails the run with the verification error.
func TestPostgresOverTLS(t *testing.T) {
	e2etest.RequirePostgres(t)
	ca := newTestCA(t, "pg")
	port := startTLSPostgres(t, ca)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := func(db string) string {
		return "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=postgres sslmode=require dbname=" + db
	}
	admin, err := pgx.Connect(ctx, dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, db := range []string{"tls_src", "tls_dst"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}
	src, err := pgx.Connect(ctx, dsn("tls_src"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if _, err := src.Exec(ctx, `CREATE TABLE events AS SELECT g AS id, md5(g::text) AS payload,
		now() - g * interval '1 second' AS at, (g % 7)::numeric / 3 AS ratio FROM generate_series(1, 30000) g`); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.file)
	if err != nil {
		t.Fatal(err)
	}
	connector := func(db, mode, ca string) map[string]any {
		m := map[string]any{"host": "127.0.0.1", "port": port, "user": "postgres", "database": db, "schema": "public", "sslmode": mode}
		if ca != "" {
			m["ca_cert"] = ca
		}
		return m
	}
	env := e2etest.NewEmbeddedEnv(t)
	run := func(name, srcCA string) e2etest.Result {
		p := e2etest.Pipeline{Name: name, Streams: []e2etest.Stream{{Name: "events", SyncMode: "full_refresh"}},
			Source: connector("tls_src", "verify-full", srcCA), Destination: connector("tls_dst", "require", ""),
			WriteMode: "replace", Resources: map[string]any{"max_retries": 0}}
		return e2etest.RunCLI(t, env, "run", p.Write(t))
	}

	res := run("tls_copy", string(caPEM))
	res.RequireExit(t, 0)
	sum := func(db string) string {
		c, err := pgx.Connect(ctx, dsn(db))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var s string
		if err := c.QueryRow(ctx, `SELECT count(*) || ' ' || md5(string_agg(id || payload || at::text || ratio::text, ',' ORDER BY id)) FROM events`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got, want := sum("tls_dst"), sum("tls_src"); got != want {
		t.Fatalf("destination %s, source %s", got, want)
	}

	other := newTestCA(t, "other")
	otherPEM, err := os.ReadFile(other.file)
	if err != nil {
		t.Fatal(err)
	}
	res = run("tls_wrong_ca", string(otherPEM))
	if res.ExitCode == 0 {
		t.Fatalf("a certificate from another CA was accepted\n%s", res)
	}
	if !strings.Contains(res.Stdout+res.Stderr, "certificate signed by unknown authority") {
		t.Errorf("want the verification error in the run's error\n%s", res)
	}
}
