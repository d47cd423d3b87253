package pgclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Dialer is how connections reach the server: the SDK's host-proxied
// sockets in wasm, nil for the platform's net.Dialer.
type Dialer struct {
	// Dial opens a connection; nil uses net.Dialer.
	Dial pgconn.DialFunc
	// Lookup resolves a host; nil uses the platform resolver. Host-proxied
	// dialers pass the name through so the host enforces its allow-list.
	Lookup pgconn.LookupFunc
}

// Conn is an open connection: pgconn's, plus the read buffer in front of
// it, through which StreamRows reads query results itself.
type Conn struct {
	*pgconn.PgConn
	rd *bufio.Reader
}

// Connect opens a connection described by c.
func Connect(ctx context.Context, c Config, d Dialer) (*Conn, error) {
	return connect(ctx, c, d, nil)
}

// ConnectReplication opens a logical replication connection
// (replication=database): it accepts replication commands such as
// CREATE_REPLICATION_SLOT and START_REPLICATION besides simple-protocol SQL.
func ConnectReplication(ctx context.Context, c Config, d Dialer) (*Conn, error) {
	return connect(ctx, c, d, map[string]string{"replication": "database"})
}

func connect(ctx context.Context, c Config, d Dialer, params map[string]string) (*Conn, error) {
	pc, err := pgconnConfig(c, d)
	if err != nil {
		return nil, err
	}
	for k, v := range params {
		pc.RuntimeParams[k] = v
	}
	conn := &Conn{}
	pc.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		conn.rd = bufio.NewReaderSize(r, readBufferSize)
		return pgproto3.NewFrontend(conn.rd, w)
	}
	if conn.PgConn, err = pgconn.ConnectConfig(ctx, pc); err != nil {
		return nil, err
	}
	return conn, nil
}

// pgconnConfig builds the pgconn configuration for c.
func pgconnConfig(c Config, d Dialer) (*pgconn.Config, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// ParseConfig initialises internal fields; everything that matters is
	// overwritten below so environment variables cannot change the target.
	pc, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("base pgconn config: %w", err)
	}
	pc.Host, pc.Port, pc.User, pc.Password, pc.Database = c.Host, uint16(c.Port), c.User, c.Password, c.Database
	pc.ConnectTimeout = c.Timeout()
	pc.Fallbacks = nil
	pc.RuntimeParams = map[string]string{"application_name": c.ApplicationName, "DateStyle": "ISO", "TimeZone": "UTC"}
	pc.TLSConfig, err = tlsConfig(c)
	if err != nil {
		return nil, err
	}
	if d.Dial != nil {
		pc.DialFunc = d.Dial
	}
	if d.Lookup != nil {
		pc.LookupFunc = d.Lookup
	}
	return pc, nil
}

// readBufferSize is the read buffer in front of the connection. pgproto3
// reads 8 KiB at a time; every read is a system call natively and a host
// call in wasm, so large results are read in bigger chunks.
const readBufferSize = 256 << 10

// tlsConfig maps sslmode and ca_cert to a TLS config (nil = no TLS).
// require without ca_cert encrypts without verifying (libpq's require);
// require with ca_cert verifies the chain but not the host name (libpq's
// verify-ca); verify-full verifies both.
func tlsConfig(c Config) (*tls.Config, error) {
	if c.SSLMode == SSLDisable {
		return nil, nil
	}
	var roots *x509.CertPool
	if c.CACert != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(c.CACert)) {
			return nil, errors.New("ca_cert: no PEM certificate found")
		}
	}
	cfg := &tls.Config{ServerName: c.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if c.SSLMode == SSLRequire {
		cfg.InsecureSkipVerify = true
		if roots != nil {
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
		}
	}
	return cfg, nil
}
