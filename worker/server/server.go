package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
	"github.com/rapidbyte/rapidbyte/worker/internal/metrics"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
)

// Version is the worker's version, set at build time with
// -ldflags "-X github.com/rapidbyte/rapidbyte/worker/server.Version=...".
var Version = "dev"

// Service names reported by gRPC health.
const (
	workerService = "rapidbyte.v1.WorkerService"
	flightService = "arrow.flight.protocol.FlightService"
)

// ErrDrainTimeout is returned by Serve when running streams did not finish
// within the drain timeout and were cancelled.
var ErrDrainTimeout = errors.New("drain timeout: running streams were cancelled")

// host is the wasm runtime as the server manages it.
type host interface {
	modules.Loader
	Abandoned() int64
	Close(ctx context.Context) error
}

// Server is a worker. Create it with New, run it with Serve, release it
// with Close.
type Server struct {
	cfg      Config
	log      hclog.Logger
	host     host
	resolver *modules.Resolver
	runner   *runner.Runner
	grpc     *grpc.Server
	health   *health.Server
	metrics  *metrics.Metrics
	registry *grpc.ClientConn
	calls    *calls

	serving   atomic.Bool // health is SERVING
	served    atomic.Bool // Serve was called
	closeOnce sync.Once
	closeErr  error
}

// New builds a worker: the wasm runtime (with its compilation cache in
// cfg.CacheDir), the module resolver, and the gRPC server with every
// service registered. It does not listen; call Serve.
func New(cfg Config, log hclog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	// New has no ctx by contract; creating the runtime does no I/O that a
	// caller could want to cancel beyond opening the cache directory.
	rt, err := newHost(context.Background(), cfg, log.Named("wasm"))
	if err != nil {
		return nil, fmt.Errorf("create wasm runtime: %w", err)
	}
	s, err := newServer(cfg, log, rt)
	if err != nil {
		_ = rt.Close(context.Background())
		return nil, err
	}
	return s, nil
}

// newServer builds a worker around any host (tests pass fakes).
func newServer(cfg Config, log hclog.Logger, h host) (*Server, error) {
	s := &Server{cfg: cfg, log: log, host: h, metrics: metrics.New(), health: health.NewServer(), calls: newCalls()}

	var registry modules.Registry
	if cfg.CoordinatorAddr != "" {
		creds, err := coordinatorCreds(cfg.CoordinatorCAFile, cfg.CoordinatorCertFile, cfg.CoordinatorKeyFile)
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(cfg.CoordinatorAddr,
			grpc.WithTransportCredentials(creds),
			grpc.WithPerRPCCredentials(bearer(cfg.AuthToken)))
		if err != nil {
			return nil, fmt.Errorf("dial coordinator %q: %w", cfg.CoordinatorAddr, err)
		}
		s.registry = conn
		registry = rbv1.NewConnectorRegistryServiceClient(conn)
	}
	s.resolver = modules.New(h, modules.Config{
		Dir: cfg.ConnectorsDir, CacheDir: filepath.Join(cfg.CacheDir, "modules"), Registry: registry,
		Observer: s.metrics, Logger: log.Named("modules"), OnCompile: cfg.OnCompile,
	})
	var budget *runner.MemoryBudget
	if cfg.MemoryBudget > 0 {
		budget = runner.NewMemoryBudget(cfg.MemoryBudget)
		s.metrics.ObserveMemory(budget.Total(), budget.Reserved)
	}
	s.runner = runner.New(s.resolver, runner.Config{
		MaxStreams: cfg.MaxStreams, QueueTimeout: cfg.QueueTimeout, RequestTimeout: cfg.RequestTimeout,
		Memory: budget, GuestMemory: int64(cfg.GuestMemoryMiB) << 20,
		Metrics: s.metrics, Logger: log.Named("runner"),
	})

	auth := grpcapi.NewAuth(cfg.AuthToken)
	rec := recovery.WithRecoveryHandlerContext(grpcapi.PanicHandler(log.Named("grpc")))
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.metrics.GRPC.UnaryServerInterceptor(), recovery.UnaryServerInterceptor(rec), s.calls.unary(), auth.Unary()),
		grpc.ChainStreamInterceptor(s.metrics.GRPC.StreamServerInterceptor(), recovery.StreamServerInterceptor(rec), s.calls.stream(), auth.Stream()),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		grpc.ForceServerCodecV2(grpcapi.Codec{}), // Flight bodies without extra copies
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.MaxConnectionAge > 0 {
		grace := cfg.RequestTimeout
		if grace <= 0 {
			grace = time.Hour
		}
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge: cfg.MaxConnectionAge, MaxConnectionAgeGrace: grace,
		}))
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load tls key pair: %w", err)
		}
		tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.ClientCAFile != "" {
			pool, err := loadPool(cfg.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("client CA: %w", err)
			}
			tcfg.ClientCAs, tcfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tcfg)))
	}
	s.grpc = grpc.NewServer(opts...)
	rbv1.RegisterWorkerServiceServer(s.grpc, grpcapi.NewWorkerServer(s.runner, log.Named("grpc")))
	flight.RegisterFlightServiceServer(s.grpc, grpcapi.NewFlightServer(s.runner, log.Named("flight")))
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.metrics.GRPC.InitializeMetrics(s.grpc)
	s.setServing(false)
	return s, nil
}

// coordinatorCreds returns the transport credentials of the registry
// client: TLS verified against the PEM bundle caFile, presenting the client
// certificate certFile/keyFile when set, or plaintext when caFile is empty.
func coordinatorCreds(caFile, certFile, keyFile string) (credentials.TransportCredentials, error) {
	if caFile == "" {
		return insecure.NewCredentials(), nil
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("coordinator CA: %w", err)
	}
	tcfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load coordinator client certificate: %w", err)
		}
		tcfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tcfg), nil
}

// loadPool reads a PEM CA bundle.
func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %q: no PEM certificates", file)
	}
	return pool, nil
}

// pprofToken is the token guarding /debug/pprof/, or "" when --pprof is off.
func (s *Server) pprofToken() string {
	if !s.cfg.Pprof {
		return ""
	}
	return s.cfg.AuthToken
}

// setServing sets the health of every service.
func (s *Server) setServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, svc := range []string{"", workerService, flightService} {
		s.health.SetServingStatus(svc, st)
	}
	s.serving.Store(ok)
}

// minProcs is the fewest Ps (GOMAXPROCS) a worker runs guests with. Go
// cannot preempt wazero's compiled code, so a guest spinning without host
// calls keeps its P until the process exits; with a single P nothing else
// would run, not even the deadline that abandons that guest and reports it
// (docs/rationale.md, "A runaway guest takes its worker out of rotation").
const minProcs = 2

// ensureProcs raises GOMAXPROCS to minProcs (whether it came from the CPUs,
// a cgroup limit or the environment) and returns the value it replaced, or
// 0 when it was high enough.
func ensureProcs() int {
	if n := runtime.GOMAXPROCS(0); n < minProcs {
		runtime.GOMAXPROCS(minProcs)
		return n
	}
	return 0
}

// Serve serves gRPC on lis until ctx is cancelled, then drains: health turns
// NOT_SERVING, no new connection or call is accepted, running streams get
// DrainTimeout to finish and are then cancelled. It returns nil after a
// clean drain, ErrDrainTimeout when streams had to be cancelled, or the
// error that stopped serving. Modules in ConnectorsDir are compiled into the
// compilation cache in the background, one at a time (unless NoWarm), and
// each is loaded from it on its first use, so the worker holds only the
// modules it runs: health is SERVING at once, and a request for a module
// still compiling waits for that compile instead of starting another. A
// GOMAXPROCS below minProcs is raised to it.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if s.served.Swap(true) {
		return errors.New("worker: Serve called twice")
	}
	if n := ensureProcs(); n > 0 {
		s.log.Info("GOMAXPROCS raised: a guest spinning in compiled code holds its P until the process exits", "from", n, "to", minProcs)
	}
	start := time.Now()
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() {
		stopBg()
		bg.Wait()
	}()

	var metricsSrv *http.Server
	if s.cfg.MetricsListen != "" {
		mlis, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen for metrics on %q: %w", s.cfg.MetricsListen, err)
		}
		metricsSrv = &http.Server{Handler: s.metrics.Handler(s.serving.Load, s.pprofToken()), ReadHeaderTimeout: 10 * time.Second}
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := metricsSrv.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics server stopped", "error", err)
			}
		}()
		defer func() { _ = metricsSrv.Close() }()
		s.log.Info("metrics listening", "addr", mlis.Addr().String())
	}

	for _, id := range s.cfg.Preload {
		bg.Add(1)
		go func() { defer bg.Done(); s.preload(bgCtx, id) }()
	}
	bg.Add(2)
	go func() { defer bg.Done(); s.warm(bgCtx, start) }()
	go func() { defer bg.Done(); s.watchAbandoned(bgCtx) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.grpc.Serve(lis) }()
	s.setServing(true)
	s.log.Info("worker serving", "addr", lis.Addr().String(), "version", Version, "max_streams", s.cfg.MaxStreams,
		"connectors_dir", s.cfg.ConnectorsDir, "coordinator", s.cfg.CoordinatorAddr, "tls", s.cfg.TLSCert != "",
		"auth", s.cfg.AuthToken != "")

	select {
	case err := <-serveErr:
		s.setServing(false)
		if err != nil {
			return fmt.Errorf("serve grpc: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	return s.drain(serveErr)
}

// drain stops the gRPC server gracefully: it stops accepting, waits for
// running calls (not watch streams) up to DrainTimeout, then stops hard.
func (s *Server) drain(serveErr <-chan error) error {
	s.setServing(false)
	s.health.Shutdown()
	s.log.Info("draining", "running_guests", s.runner.InUse(), "timeout", s.cfg.DrainTimeout)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-s.calls.idleCh():
		s.calls.endWatches()
		select {
		case <-stopped:
			s.log.Info("drained")
		case <-timer.C:
			s.grpc.Stop()
			err = ErrDrainTimeout
		}
	case <-timer.C:
		s.log.Warn("drain timeout; cancelling running streams", "running_guests", s.runner.InUse())
		s.grpc.Stop()
		err = ErrDrainTimeout
	}
	<-stopped
	if serr := <-serveErr; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) && err == nil {
		err = fmt.Errorf("serve grpc: %w", serr)
	}
	return err
}

// Warm compiles every module in ConnectorsDir into the compilation cache
// (without keeping them loaded) and returns how many it compiled or found
// compiled. Serve does this in the background; image builds
// call it alone (rapidbyte-worker --warm-only) to ship a warm cache.
func (s *Server) Warm(ctx context.Context) (int, error) {
	return s.resolver.Warm(ctx)
}

// warm compiles every module in ConnectorsDir, unless NoWarm.
func (s *Server) warm(ctx context.Context, start time.Time) {
	if s.cfg.ConnectorsDir == "" || s.cfg.NoWarm {
		return
	}
	n, err := s.resolver.Warm(ctx)
	if err != nil {
		s.log.Warn("some connector modules failed to load", "loaded", n, "error", err)
	}
	s.log.Info("module cache warm", "modules", n, "since_start", time.Since(start))
}

// preload loads one connector of Preload.
func (s *Server) preload(ctx context.Context, id string) {
	if _, err := s.resolver.Resolve(ctx, modules.Ref{ID: id}); err != nil {
		s.log.Info("preload failed; the connector loads on its first request", "connector", id, "error", err)
	}
}

// watchAbandoned turns health NOT_SERVING while more than MaxAbandoned guest
// instances are abandoned, so load balancers and the coordinator route
// around this worker until they finish.
func (s *Server) watchAbandoned(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	unhealthy := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.host.Abandoned()
		switch over := n > int64(s.cfg.MaxAbandoned); {
		case over && !unhealthy:
			s.log.Error("too many abandoned guest instances; reporting NOT_SERVING", "abandoned", n, "max", s.cfg.MaxAbandoned)
			s.setServing(false)
			unhealthy = true
		case !over && unhealthy && ctx.Err() == nil:
			s.log.Info("abandoned guest instances back under the limit; SERVING", "abandoned", n)
			s.setServing(true)
			unhealthy = false
		}
	}
}

// Close stops the server at once (cancelling running streams) and releases
// the wasm runtime and the registry connection. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.setServing(false)
		s.grpc.Stop()
		var errs []error
		if s.registry != nil {
			errs = append(errs, s.registry.Close())
		}
		// Close has no ctx by contract; closing the runtime does not block on guests.
		errs = append(errs, s.host.Close(context.Background()))
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// bearer is per-RPC credentials sending "authorization: Bearer <token>".
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the registry link may be plaintext
// inside a cluster network.
func (b bearer) RequireTransportSecurity() bool { return false }
