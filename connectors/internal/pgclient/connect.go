package pgclient

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/hostnet"
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
	rd      *bufio.Reader
	pending *pendingCopy // a COPY StartCopy left pending
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
	if c.CACert != "" {
		if b, _ := pem.Decode([]byte(c.CACert)); b == nil {
			return nil, errors.New("ca_cert: no PEM certificate found")
		}
	}
	if d.Dial != nil {
		pc.DialFunc = d.Dial
	}
	if c.SSLMode != SSLDisable {
		pc.DialFunc = dialTLS(pc.DialFunc, tlsParams(c))
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

// tlsParams maps sslmode and ca_cert to the TLS the host runs: require
// without ca_cert encrypts without verifying (libpq's require), require
// with ca_cert verifies the chain but not the host name (libpq's
// verify-ca), verify-full verifies both.
func tlsParams(c Config) abi.TLSParams {
	p := abi.TLSParams{ServerName: c.Host, CAPEM: c.CACert, Verify: abi.TLSVerifyNone}
	switch {
	case c.SSLMode == SSLVerifyFull:
		p.Verify = abi.TLSVerifyFull
	case c.CACert != "":
		p.Verify = abi.TLSVerifyCA
	}
	return p
}

// sslRequest is PostgreSQL's SSLRequest message: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// dialTLS wraps dial: it asks the server for TLS (SSLRequest) on each new
// connection and hands the handshake to the host (hostnet.StartTLS), so
// pgconn speaks plaintext over a connection the host encrypts natively; a
// guest's own TLS would run at a few tens of MB/s (docs/rationale.md).
func dialTLS(dial pgconn.DialFunc, p abi.TLSParams) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc, err := startTLS(ctx, conn, p)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
}

func startTLS(ctx context.Context, conn net.Conn, p abi.TLSParams) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
		defer func() { _ = conn.SetDeadline(time.Time{}) }()
	}
	if _, err := conn.Write(sslRequest); err != nil {
		return nil, fmt.Errorf("send SSLRequest: %w", err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		return nil, fmt.Errorf("read SSLRequest answer: %w", err)
	}
	if answer[0] != 'S' {
		return nil, errors.New("server refused TLS connection")
	}
	return hostnet.StartTLS(ctx, conn, p)
}
