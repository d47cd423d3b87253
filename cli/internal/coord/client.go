package coord

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// DefaultDialTimeout bounds how long Dial waits for the coordinator to answer.
const DefaultDialTimeout = 5 * time.Second

// Options say how to reach a coordinator.
type Options struct {
	// Addr is host:port, or any gRPC target such as dns:///name:port.
	Addr string
	// AuthToken, when set, is sent as "authorization: Bearer <token>" on every call.
	AuthToken string
	// DialTimeout bounds the wait for a first connection (default DefaultDialTimeout).
	DialTimeout time.Duration
	// TLS, when non-nil, secures the connection; nil means plaintext.
	TLS *tls.Config
}

// Conn is an open connection to a coordinator.
type Conn struct {
	cc   *grpc.ClientConn
	addr string
	// Coordinator is the CoordinatorService client over this connection.
	Coordinator rapidbytev1.CoordinatorServiceClient
}

// Dial connects to the coordinator and waits until the connection is ready, so an
// unreachable address fails fast with an *UnreachableError instead of on the first call.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	if strings.TrimSpace(opts.Addr) == "" {
		return nil, errors.New("no coordinator address")
	}
	timeout := opts.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	rec := &dialRecorder{}
	creds := insecure.NewCredentials()
	if opts.TLS != nil {
		creds = credentials.NewTLS(opts.TLS)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(rec.dial),
	}
	if opts.AuthToken != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: opts.AuthToken, secure: opts.TLS != nil}))
	}
	cc, err := grpc.NewClient(opts.Addr, dialOpts...)
	if err != nil {
		return nil, &UnreachableError{Addr: opts.Addr, Err: err}
	}
	if err := waitReady(ctx, cc, timeout, rec); err != nil {
		if lerr := lookup(ctx, opts.Addr); lerr != nil {
			err = lerr
		}
		_ = cc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnreachableError{Addr: opts.Addr, Err: err}
	}
	return &Conn{cc: cc, addr: opts.Addr, Coordinator: rapidbytev1.NewCoordinatorServiceClient(cc)}, nil
}

// Addr is the address the connection was dialed with.
func (c *Conn) Addr() string { return c.addr }

// Close closes the connection.
func (c *Conn) Close() error { return c.cc.Close() }

// waitReady blocks until cc is ready, has failed to connect, or timeout passes.
func waitReady(ctx context.Context, cc *grpc.ClientConn, timeout time.Duration, rec *dialRecorder) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc.Connect()
	for {
		st := cc.GetState()
		switch st {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			if err := rec.last(); err != nil {
				return err
			}
			return handshakeError(ctx, cc)
		}
		if !cc.WaitForStateChange(ctx, st) {
			if err := rec.last(); err != nil {
				return err
			}
			return fmt.Errorf("no answer within %s", timeout)
		}
	}
}

// handshakeError says why a connection that dialled failed: a call on a
// channel in TransientFailure fails at once with the last connection error
// (a TLS alert, say), which the channel's state does not carry.
func handshakeError(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		return errors.New("connection failed during the gRPC handshake (TLS or plaintext mismatch?)")
	}
	msg := strings.Trim(shortReason(err), `"`)
	switch {
	case strings.Contains(msg, "certificate required"):
		return fmt.Errorf("%s: the coordinator requires a client certificate (--tls-cert and --tls-key)", msg)
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return fmt.Errorf("%s: the coordinator did not accept the client certificate (--tls-cert)", msg)
	}
	return fmt.Errorf("connection failed during the gRPC handshake (TLS or plaintext mismatch?): %s", msg)
}

// lookup resolves the host of a plain host:port address, so a failed connection to a
// misspelled host says "no such host"; it returns nil for other targets.
func lookup(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || strings.Contains(addr, "://") || net.ParseIP(host) != nil || host == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = net.DefaultResolver.LookupHost(ctx, host)
	return err
}

// dialRecorder dials TCP and remembers the last dial error, so a failed connection can
// say why (connection refused, no such host) rather than only that it failed.
type dialRecorder struct {
	mu  sync.Mutex
	err error
}

func (r *dialRecorder) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
	return conn, err
}

func (r *dialRecorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// bearer sends a bearer token with every call.
type bearer struct {
	token  string
	secure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials; plaintext is allowed
// for loopback and development coordinators.
func (b bearer) RequireTransportSecurity() bool { return b.secure }
