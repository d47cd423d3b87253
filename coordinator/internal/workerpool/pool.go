package workerpool

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // registers the client-side health checking function
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// WorkerHealthService is the health service name workers report and the pool
// checks before it sends work to a worker.
const WorkerHealthService = "rapidbyte.v1.WorkerService"

// serviceConfig turns on the least-loaded balancer (balancer.go) and
// client-side health checking.
const serviceConfig = `{"loadBalancingConfig":[{"` + balancerName + `":{}}],` +
	`"healthCheckConfig":{"serviceName":"` + WorkerHealthService + `"}}`

// maxMessageSize bounds one gRPC message between the coordinator and a
// worker: a FlightData carries one Arrow batch (max_batch_bytes, default 64 MiB).
const maxMessageSize = 256 << 20

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Workers is a comma-separated list of host:port addresses, or one gRPC
	// target with a scheme such as "dns:///workers.ns.svc:7071".
	Workers string
	// Token, when set, is sent as "authorization: Bearer <token>" on every call.
	Token string
	// TLS, when set, secures the connections; nil means plaintext.
	TLS *tls.Config
	// DialOptions are added to the pool's own: the embedded CLI's
	// in-memory dialer.
	DialOptions []grpc.DialOption
	// VerdictGrace is how long past a job's timeout a relay waits for the
	// workers' verdict; 0 means DefaultVerdictGrace.
	VerdictGrace time.Duration
	// Name, when set, is how errors and run status name the worker that
	// served a call, instead of its address (see Pool.OpenStream). Without
	// it a worker on a Unix socket is "worker on unix socket <path>"; the
	// embedded CLI names its worker, which it dials in memory through a
	// placeholder address, "embedded worker".
	Name string
}

// Pool holds one client connection to the set of workers. It is safe for
// concurrent use.
type Pool struct {
	conn   *grpc.ClientConn
	flight flightpb.FlightServiceClient
	worker rapidbytev1.WorkerServiceClient
	name   string        // PoolConfig.Name
	grace  time.Duration // VerdictGrace
	log    hclog.Logger
	closed atomic.Bool
}

var schemeSeq atomic.Uint64

// NewPool parses cfg.Workers and creates the connection. It does not block:
// workers are dialled lazily and calls wait for a healthy one.
func NewPool(cfg PoolConfig, log hclog.Logger) (*Pool, error) {
	target, opts, err := targetOptions(cfg.Workers)
	if err != nil {
		return nil, err
	}
	var tc credentials.TransportCredentials = insecure.NewCredentials()
	if cfg.TLS != nil {
		tc = credentials.NewTLS(cfg.TLS)
	}
	opts = append(opts,
		grpc.WithTransportCredentials(tc),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	)
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: cfg.Token, secure: cfg.TLS != nil}))
	}
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("create worker client for %q: %w", cfg.Workers, err)
	}
	return &Pool{
		conn:   conn,
		flight: flightpb.NewFlightServiceClient(conn),
		worker: rapidbytev1.NewWorkerServiceClient(conn),
		name:   cfg.Name,
		grace:  cmp.Or(cfg.VerdictGrace, DefaultVerdictGrace),
		log:    log.Named("dispatch"),
	}, nil
}

// targetOptions turns the --workers value into a dial target. A list of
// host:port becomes a private manual resolver with every address, so
// the balancer places calls over all of them; a value with a scheme
// ("dns:///...") is passed to grpc as is.
func targetOptions(workers string) (target string, opts []grpc.DialOption, err error) {
	workers = strings.TrimSpace(workers)
	if workers == "" {
		return "", nil, errors.New("no workers configured")
	}
	if strings.Contains(workers, "://") {
		if strings.Contains(workers, ",") {
			return "", nil, fmt.Errorf("workers %q: a target with a scheme must be the only entry", workers)
		}
		return workers, nil, nil
	}
	var addrs []resolver.Address
	seen := map[string]bool{}
	for _, a := range strings.Split(workers, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, ":") {
			return "", nil, fmt.Errorf("worker address %q: want host:port", a)
		}
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, resolver.Address{Addr: a})
		}
	}
	if len(addrs) == 0 {
		return "", nil, errors.New("no workers configured")
	}
	scheme := fmt.Sprintf("rbworkers%d", schemeSeq.Add(1))
	r := manual.NewBuilderWithScheme(scheme)
	r.InitialState(resolver.State{Addresses: addrs})
	return scheme + ":///workers", []grpc.DialOption{grpc.WithResolvers(r)}, nil
}

// Close closes the connection. It is idempotent.
func (p *Pool) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	return p.conn.Close()
}

// Connect makes the pool start dialling its workers now instead of on the
// first call.
func (p *Pool) Connect() { p.conn.Connect() }

// State reports the connection's connectivity state as text (READY, CONNECTING, ...).
func (p *Pool) State() string { return p.conn.GetState().String() }

// readyWait bounds how long a call waits for some worker to be ready
// (workers still starting, or all of them reconnecting after a failure)
// before it is sent and fails fast.
const readyWait = 10 * time.Second

// awaitReady waits, up to readyWait and ctx, until the connection has a
// ready worker. Without it a coordinator that started before its workers
// failed its first runs with "connection refused": gRPC keeps a refused
// address in TRANSIENT_FAILURE for its reconnect backoff, and calls fail
// fast meanwhile.
func (p *Pool) awaitReady(ctx context.Context) {
	s := p.conn.GetState()
	if s == connectivity.Ready {
		return
	}
	p.conn.Connect()
	wctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	for s != connectivity.Ready && s != connectivity.Shutdown {
		if !p.conn.WaitForStateChange(wctx, s) {
			return
		}
		s = p.conn.GetState()
	}
}

// Spec forwards a Spec call to any worker.
func (p *Pool) Spec(ctx context.Context, req *rapidbytev1.SpecRequest) (*rapidbytev1.SpecResponse, error) {
	p.awaitReady(ctx)
	resp, err := p.worker.Spec(ctx, req)
	if err != nil {
		return nil, FromStatus(ctx, "spec", err)
	}
	return resp, nil
}

// Check forwards a Check call to any worker.
func (p *Pool) Check(ctx context.Context, req *rapidbytev1.CheckRequest) (*rapidbytev1.CheckResponse, error) {
	p.awaitReady(ctx)
	resp, err := p.worker.Check(ctx, req)
	if err != nil {
		return nil, FromStatus(ctx, "check", err)
	}
	return resp, nil
}

// Discover forwards a Discover call to any worker.
func (p *Pool) Discover(ctx context.Context, req *rapidbytev1.DiscoverRequest) (*rapidbytev1.DiscoverResponse, error) {
	p.awaitReady(ctx)
	resp, err := p.worker.Discover(ctx, req)
	if err != nil {
		return nil, FromStatus(ctx, "discover", err)
	}
	return resp, nil
}

// bearer is per-call credentials carrying a bearer token.
type bearer struct {
	token  string
	secure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. The
// token is also sent over plaintext connections (loopback and trusted
// networks); configure TLS to protect it elsewhere.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// DefaultVerdictGrace is how long past a job's timeout the relay waits for the
// workers to report how their calls ended. A worker stops a guest at the
// deadline and reports within its cancel grace (2s by default) whether the
// guest returned (retryable) or had to be abandoned (a runaway guest, not
// retried). If the relay gave up at the deadline itself, every timeout
// would look the same: a retryable DEADLINE_EXCEEDED, and a runaway guest
// would be retried onto, and hang, worker after worker.
const DefaultVerdictGrace = 10 * time.Second

// VerdictGrace is how long past a job's timeout a relay waits for the
// workers' verdict (PoolConfig.VerdictGrace or DefaultVerdictGrace).
func (p *Pool) VerdictGrace() time.Duration { return p.grace }

// OpenStream opens a stream on the least loaded ready worker (balancer.go):
// one whose address is not in avoid when there is one (workers that failed
// this stream before), then one other than apart when there is one (the
// worker serving the stream's other half; "" for none), then the one with
// the fewest calls in flight from this coordinator. It returns the stream
// and the worker's name (its address, or PoolConfig.Name); opts apply to the call (the relay passes its
// raw codec).
func (p *Pool) OpenStream(ctx context.Context, desc *grpc.StreamDesc, method string, avoid []string, apart string, opts ...grpc.CallOption) (grpc.ClientStream, string, error) {
	p.awaitReady(ctx)
	s, err := p.conn.NewStream(withHint(ctx, hint{avoid: avoid, apart: apart}), desc, method, opts...)
	if err != nil {
		return nil, "", err
	}
	return s, p.workerName(s.Context()), nil
}

// workerName names the worker that serves a call: the pool's Name when
// set (the embedded worker), else the worker's address as the resolver
// gave it (host:port), which is also what the balancer's avoid and apart
// lists hold.
func (p *Pool) workerName(ctx context.Context) string {
	if p.name != "" {
		return p.name
	}
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return "unknown worker"
	}
	return pr.Addr.String()
}
