// Package embedded runs a coordinator and one worker inside the CLI process,
// on local listeners (the coordinator on loopback TCP, the worker on an
// in-memory listener only the coordinator dials), so the CLI talks to them
// over the same gRPC APIs it uses for a remote coordinator.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	coordinator "github.com/rapidbyte/rapidbyte/coordinator/server"
	worker "github.com/rapidbyte/rapidbyte/worker/server"
)

// drainTimeout bounds how long running streams may finish when the CLI exits.
const drainTimeout = 2 * time.Second

// stopTimeout bounds how long Close waits for both servers to stop before closing
// them at once (a worker still compiling a module, preloaded or asked for by a
// cancelled call, can take longer).
const stopTimeout = 3 * time.Second

// Config says how to run the embedded coordinator and worker.
type Config struct {
	// ConnectorsDir holds the connector modules (<id>.wasm).
	ConnectorsDir string
	// CacheDir is the worker's compilation cache directory; empty keeps the worker's default.
	CacheDir string
	// State is the coordinator's state store URL, for example sqlite:///home/u/.rapidbyte/state.db.
	State string
	// Logger receives both servers' logs (nothing when nil).
	Logger hclog.Logger
	// Preload lists the connector ids the command will use: the worker loads
	// them in parallel while the cluster starts (see worker.Config.Preload).
	Preload []string
	// OnCompile is called with a connector id before the worker compiles a
	// module its compilation cache lacks (see worker.Config.OnCompile).
	OnCompile func(connector string)
}

// Cluster is a running coordinator and worker. Its servers require a random
// bearer token, so other local users cannot drive them through the loopback ports.
type Cluster struct {
	addr   string
	token  string
	cancel context.CancelFunc
	coord  *coordinator.Server
	worker *worker.Server
	// coordDone and workerDone close when the servers' Serve calls return.
	coordDone, workerDone chan struct{}

	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex
	serveErrs []error
}

// Start starts a worker and a coordinator and returns once both listen: the
// coordinator on 127.0.0.1:0, the worker on an in-memory listener only the
// coordinator dials (see workerPipeBytes). Their Serve goroutines may not
// have run yet; a call made meanwhile waits for them (a submission waits
// for the coordinator's engine to run). The caller must Close the cluster.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	wlis := bufconn.Listen(workerPipeBytes)
	clis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = wlis.Close()
		return nil, fmt.Errorf("listen for the coordinator: %w", err)
	}
	closeListeners := func() { _ = wlis.Close(); _ = clis.Close() }

	wcfg := worker.Default()
	wcfg.ConnectorsDir = cfg.ConnectorsDir
	// One command needs only its pipeline's connectors: compile those on use.
	wcfg.NoWarm = true
	// It lives for one command: keep its modules loaded, unbounded.
	wcfg.ModuleCacheMiB = 0
	wcfg.Preload = cfg.Preload
	wcfg.OnCompile = cfg.OnCompile
	if cfg.CacheDir != "" {
		wcfg.CacheDir = cfg.CacheDir
	}
	wcfg.CoordinatorAddr = clis.Addr().String()
	wcfg.AuthToken = token
	wcfg.DrainTimeout = drainTimeout
	w, err := worker.New(wcfg, log.Named("worker"))
	if err != nil {
		closeListeners()
		return nil, fmt.Errorf("create worker: %w", err)
	}

	ccfg := coordinator.Default()
	ccfg.Listen = clis.Addr().String()
	// The address only names the worker to gRPC; the dialer below is how
	// the coordinator reaches it.
	ccfg.Workers = "embedded-worker:0"
	ccfg.WorkerDialOptions = []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return wlis.DialContext(ctx)
	})}
	ccfg.WorkerName = "embedded worker"
	ccfg.State = cfg.State
	ccfg.ConnectorsDir = cfg.ConnectorsDir
	ccfg.AuthToken = token
	ccfg.WorkerAuthToken = token
	ccfg.MetricsListen = ""
	// The embedded coordinator lives for one command: it neither resumes
	// other runs nor leaves its own behind (see cli/README.md, "One run per pipeline").
	ccfg.NoFailover = true
	// The embedded coordinator runs as the user, in the user's environment:
	// every ${VAR} may come from it, as it always did.
	ccfg.EnvAllow = []string{"*"}
	c, err := coordinator.New(ctx, ccfg, log.Named("coordinator"))
	if err != nil {
		_ = w.Close()
		closeListeners()
		return nil, fmt.Errorf("create coordinator: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cl := &Cluster{addr: clis.Addr().String(), token: token, cancel: cancel, coord: c, worker: w}
	cl.workerDone = cl.serve(func() error { return w.Serve(runCtx, wlis) })
	cl.coordDone = cl.serve(func() error { return c.Serve(runCtx, clis) })
	return cl, nil
}

// serve runs fn in a goroutine, records its error, and returns a channel closed when it returns.
func (c *Cluster) serve(fn func() error) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(); err != nil && !errors.Is(err, worker.ErrDrainTimeout) {
			c.mu.Lock()
			c.serveErrs = append(c.serveErrs, err)
			c.mu.Unlock()
		}
	}()
	return done
}

// Version is the build's version, as set by make build (-X .../worker/server.Version).
func Version() string { return worker.Version }

// Addr is the coordinator's address.
func (c *Cluster) Addr() string { return c.addr }

// AuthToken is the token the coordinator expects.
func (c *Cluster) AuthToken() string { return c.token }

// Close stops both servers, cancelling any run still going, and waits up to a few
// seconds for them. It is idempotent.
//
// A worker still compiling a connector module (preloaded, or for a call since cancelled)
// cannot stop until that compile ends, and closing it meanwhile is unsafe; Close then
// leaves it to finish on its own (the CLI process exits right after).
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		// A closed channel, unlike time.After's, can be waited on twice.
		expired := make(chan struct{})
		timer := time.AfterFunc(stopTimeout, func() { close(expired) })
		defer timer.Stop()
		workerStopped := wait(c.workerDone, expired)
		wait(c.coordDone, expired)
		errs := []error{c.coord.Close()}
		if workerStopped {
			errs = append(errs, c.worker.Close())
		}
		c.mu.Lock()
		errs = append(errs, c.serveErrs...)
		c.mu.Unlock()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// wait reports whether done closed before deadline fired.
func wait(done, deadline <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-deadline:
		return false
	}
}

// workerPipeBytes is the buffer of each direction of the in-memory
// connection between the embedded coordinator and worker. Every batch
// crosses it twice (Read out, Write in), through the same gRPC services
// and HTTP/2 transport as in production; in memory instead of through a
// Unix socket, it costs about 9% less CPU per run (docs/rationale.md, "The
// embedded worker is reached in memory"). A full pipe only makes the
// writer wait; each connection allocates both directions up front.
const workerPipeBytes = 4 << 20

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate auth token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
