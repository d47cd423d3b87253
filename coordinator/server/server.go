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
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/hashicorp/go-hclog"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/contract"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/grpcapi"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/registry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/seal"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

// DrainTimeout is how long Serve waits for in-flight calls after its
// context ends before it stops the gRPC server hard.
const DrainTimeout = 10 * time.Second

// Server is a coordinator. Create it with New, run it with Serve, release
// it with Close.
type Server struct {
	cfg     Config
	log     hclog.Logger
	store   *store.DB
	pool    *workerpool.Pool
	engine  *engine.Engine
	grpc    *grpc.Server
	health  *health.Server
	metrics *prometheus.Registry
	grpcMet *grpcprom.ServerMetrics

	closeOnce sync.Once
	closeErr  error
}

// New builds a coordinator from cfg (zero fields take their defaults): it
// opens the state store (applying migrations) and prepares the worker pool
// and gRPC services. Nothing listens until Serve.
func New(ctx context.Context, cfg Config, log hclog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg, log: log}
	st, err := store.Open(ctx, cfg.State)
	if err != nil {
		return nil, err
	}
	s.store = st
	workerTLS, err := clientTLS(cfg.WorkerCAFile, cfg.WorkerCertFile, cfg.WorkerKeyFile)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	pool, err := workerpool.NewPool(workerpool.PoolConfig{DialOptions: cfg.WorkerDialOptions, Workers: cfg.Workers, Name: cfg.WorkerName, Token: cfg.WorkerAuthToken, TLS: workerTLS}, log)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	s.pool = pool
	reg := registry.New(registry.SplitDirs(cfg.ConnectorsDir)...)
	opts, err := s.serverOptions()
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	env := pipeline.AllowEnv(os.LookupEnv, cfg.EnvAllow)
	ecfg := engine.Config{MaxConcurrentRuns: cfg.MaxConcurrentRuns, Owner: owner(cfg.Listen), LeaseTTL: cfg.LeaseTTL, Failover: !cfg.NoFailover,
		Discoverer: pool, Manifests: contract.RegistryManifests{Registry: reg, Workers: pool}, Env: env}
	if cfg.StateKey != "" {
		box, err := seal.New(cfg.StateKey)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		ecfg.Sealer = box
	}
	if s.metrics != nil {
		ecfg.Observer = newRunMetrics(s.metrics)
	}
	relayer := relay.New(pool)
	s.engine = engine.New(st, relayer, ecfg, log)
	if s.metrics != nil {
		s.metrics.MustRegister(newLagCollector(s.engine))
	}

	s.grpc = grpc.NewServer(opts...)
	ping := func(ctx context.Context) error {
		_, _, err := st.ListRuns(ctx, store.ListFilter{PageSize: 1})
		return err
	}
	coordinatorAPI := grpcapi.NewCoordinatorServer(s.engine, pool, reg, ping, env, log)
	coordinatorAPI.SetReader(relayer)
	rapidbytev1.RegisterCoordinatorServiceServer(s.grpc, coordinatorAPI)
	rapidbytev1.RegisterConnectorRegistryServiceServer(s.grpc, grpcapi.NewRegistryServer(reg, log))
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	for _, svc := range []string{"", rapidbytev1.CoordinatorService_ServiceDesc.ServiceName, rapidbytev1.ConnectorRegistryService_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(s.grpc)
	if s.grpcMet != nil {
		s.grpcMet.InitializeMetrics(s.grpc)
	}
	return s, nil
}

// serverOptions builds the interceptors, TLS and keepalive options.
func (s *Server) serverOptions() ([]grpc.ServerOption, error) {
	auth := grpcapi.NewAuth(s.cfg.AuthToken, s.log)
	rec := recovery.WithRecoveryHandlerContext(grpcapi.PanicHandler(s.log))
	unary := []grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(rec), auth.Unary}
	stream := []grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(rec), auth.Stream}
	if s.cfg.MetricsListen != "" {
		s.metrics = prometheus.NewRegistry()
		s.grpcMet = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
		if err := s.metrics.Register(s.grpcMet); err != nil {
			return nil, fmt.Errorf("register grpc metrics: %w", err)
		}
		s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		unary = append([]grpc.UnaryServerInterceptor{s.grpcMet.UnaryServerInterceptor()}, unary...)
		stream = append([]grpc.StreamServerInterceptor{s.grpcMet.StreamServerInterceptor()}, stream...)
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if s.cfg.ClientCAFile != "" {
			pool, err := loadPool(s.cfg.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("client CA: %w", err)
			}
			tcfg.ClientCAs, tcfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tcfg)))
	}
	return opts, nil
}

// clientTLS returns the TLS config for dialling workers, or nil for
// plaintext; with certFile and keyFile it presents that client certificate.
func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("worker CA: %w", err)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load worker client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
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

// owner identifies this coordinator instance in the state store: the host
// name and listen address, unique among live coordinators and kept by a
// restarted one, which so takes its runs back without waiting for their
// leases to expire.
func owner(listen string) string {
	host, _ := os.Hostname()
	return host + "/" + listen
}

// Serve serves gRPC on lis and runs the engine until ctx is cancelled (or
// serving fails). It then reports NOT_SERVING, stops accepting calls, waits
// up to DrainTimeout for in-flight calls, cancels the active runs and
// returns. It returns nil after a cancellation.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.log.Info("coordinator serving", "addr", lis.Addr().String(), "version", Version, "workers", s.cfg.Workers)
	s.pool.Connect()

	var g run.Group
	g.Add(func() error { return s.engine.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error {
		if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	}, func(error) { s.stopGRPC() })
	if s.metrics != nil {
		// Metrics on every path, as before; the Go profiler under
		// /debug/pprof/ only with --pprof, and only for the token's bearers.
		mux := http.NewServeMux()
		mux.Handle("/", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
		if s.cfg.Pprof {
			registerPprof(mux, s.cfg.AuthToken)
		}
		msrv := &http.Server{Addr: s.cfg.MetricsListen, ReadHeaderTimeout: 5 * time.Second, Handler: mux}
		g.Add(func() error {
			if err := msrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve metrics: %w", err)
			}
			return nil
		}, func(error) {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer scancel()
			_ = msrv.Shutdown(sctx)
		})
	}
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
	err := g.Run()
	s.log.Info("coordinator stopped")
	return err
}

// stopGRPC drains the gRPC server, then stops it hard after DrainTimeout.
func (s *Server) stopGRPC() {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(DrainTimeout):
		s.grpc.Stop()
	}
}

// Close stops the gRPC server and releases the worker pool and the state
// store. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.grpc != nil {
			s.grpc.Stop()
		}
		var errs []error
		if s.pool != nil {
			errs = append(errs, s.pool.Close())
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
