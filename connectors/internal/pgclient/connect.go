package pgclient

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/hostnet"
)

// Dialer is how connections reach the server.
type Dialer struct {
	// Dial opens a connection to addr ("host:port"); nil uses hostnet.Dial:
	// the host's sockets inside a connector invocation (the host resolves
	// the name and enforces its allow-list), the platform's net.Dialer
	// outside a guest.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Conn is an open connection to a PostgreSQL server, speaking the
// frontend/backend protocol through pgproto3 and, for data, straight from
// its read buffer (StreamRows, CopyFrom).
//
// It is this package's own, not pgconn's: any use of pgconn's connection
// links crypto/tls and crypto/x509 into a guest (its connect path and its
// cancel request both may run a TLS handshake), about a third of a
// connector module's code, which every run decodes, validates and loads
// (docs/rationale.md). TLS runs in the host (see startTLS). A Conn is used
// by one goroutine at a time.
type Conn struct {
	conn    net.Conn
	rd      *bufio.Reader
	fe      *pgproto3.Frontend
	params  map[string]string // ParameterStatus values
	closed  atomic.Bool
	copying bool // a CopyIn is open
}

// ConnectError is a failure to open a connection: dialing, TLS, or the
// startup and authentication exchange (a server's refusal is a
// *PgError inside it).
type ConnectError struct {
	Addr, User, Database string
	Err                  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to %s (user %q, database %q): %v", e.Addr, e.User, e.Database, e.Err)
}

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

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
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.CACert != "" {
		if b, _ := pem.Decode([]byte(c.CACert)); b == nil {
			return nil, errors.New("ca_cert: no PEM certificate found")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout())
	defer cancel()
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	fail := func(err error) error {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = errors.Join(ctx.Err(), err)
		}
		return &ConnectError{Addr: addr, User: c.User, Database: c.Database, Err: err}
	}
	dial := d.Dial
	if dial == nil {
		dial = hostnet.Dial
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fail(err)
	}
	if c.SSLMode != SSLDisable {
		tc, err := startTLS(ctx, nc, tlsParams(c))
		if err != nil {
			_ = nc.Close()
			return nil, fail(err)
		}
		nc = tc
	}
	conn := newConn(nc)
	startup := map[string]string{
		"user": c.User, "database": c.Database, "application_name": c.ApplicationName,
		"DateStyle": "ISO", "TimeZone": "UTC",
	}
	maps.Copy(startup, params)
	stop := conn.watch(ctx)
	err = conn.startup(c.User, c.Password, startup)
	if !stop() || err != nil {
		_ = nc.Close()
		conn.closed.Store(true)
		if err == nil {
			err = ctx.Err()
		}
		return nil, fail(err)
	}
	return conn, nil
}

func newConn(nc net.Conn) *Conn {
	rd := bufio.NewReaderSize(nc, readBufferSize)
	return &Conn{conn: nc, rd: rd, fe: pgproto3.NewFrontend(rd, nc), params: map[string]string{}}
}

// watch makes the connection's reads and writes fail once ctx ends, by
// moving its deadline to the past (and to ctx's deadline meanwhile). The
// returned stop ends the watch and clears the deadline; it reports false
// when ctx ended first, after which the connection is not usable.
func (c *Conn) watch(ctx context.Context) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
	}
	after := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() bool {
		if !after() {
			return false
		}
		_ = c.conn.SetDeadline(time.Time{})
		return true
	}
}

// startup sends the startup message and answers the server's
// authentication request (cleartext, MD5 or SCRAM-SHA-256) until the
// server is ready for queries.
func (c *Conn) startup(user, password string, params map[string]string) error {
	c.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params})
	var sc *scram
	for {
		if err := c.fe.Flush(); err != nil {
			return err
		}
		msg, err := c.fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
			// A SCRAM server proves it knows the password's verifier
			// before it lets the client in; one that skips that could be
			// anyone.
			if sc != nil && !sc.verified {
				return fmt.Errorf("%w: the server ended SCRAM authentication without proving itself", errAuth)
			}
		case *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		case *pgproto3.AuthenticationCleartextPassword:
			c.fe.Send(&pgproto3.PasswordMessage{Password: password})
		case *pgproto3.AuthenticationMD5Password:
			c.fe.Send(&pgproto3.PasswordMessage{Password: md5Password(user, password, m.Salt)})
		case *pgproto3.AuthenticationSASL:
			if sc, err = newSCRAM(m.AuthMechanisms, password); err != nil {
				return err
			}
			c.fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: sc.clientFirst()})
		case *pgproto3.AuthenticationSASLContinue:
			if sc == nil {
				return fmt.Errorf("%w: SASL continuation without a SASL exchange", errProtocol)
			}
			final, err := sc.clientFinal(m.Data)
			if err != nil {
				return err
			}
			c.fe.Send(&pgproto3.SASLResponse{Data: final})
		case *pgproto3.AuthenticationSASLFinal:
			if sc == nil {
				return fmt.Errorf("%w: SASL outcome without a SASL exchange", errProtocol)
			}
			if err := sc.verifyServer(m.Data); err != nil {
				return err
			}
		case *pgproto3.ParameterStatus:
			c.params[m.Name] = m.Value
		case *pgproto3.ReadyForQuery:
			return nil
		case *pgproto3.ErrorResponse:
			return pgError(m)
		default:
			return fmt.Errorf("%w: the server asks for a method this client does not support (%T); use scram-sha-256, md5 or password", errAuth, msg)
		}
	}
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

// startTLS asks the server for TLS (SSLRequest) and hands the handshake to
// the host (hostnet.StartTLS): the guest speaks plaintext over a connection
// the host encrypts natively; a guest's own TLS would run at a few tens of
// MB/s (docs/rationale.md).
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
