package e2etest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// HealthTimeout bounds how long StartCluster waits for a process to serve.
const HealthTimeout = 60 * time.Second

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Workers is the number of worker processes (default 1).
	Workers int
	// NoAuth starts the servers without a bearer token (default: a random one).
	NoAuth bool
	// CoordinatorArgs and WorkerArgs are extra flags for each process.
	CoordinatorArgs, WorkerArgs []string
	// WorkerEnv is extra environment for each worker process.
	WorkerEnv Env
	// LogLevel is the servers' log level (default info).
	LogLevel string
	// CoordinatorTLS, when the coordinator serves TLS (--tls-cert in
	// CoordinatorArgs), is how its health is checked.
	CoordinatorTLS *tls.Config
}

// Cluster is a coordinator and its workers running as child processes.
type Cluster struct {
	// Addr is the coordinator's gRPC address (host:port).
	Addr string
	// Token is the bearer token of every process ("" with NoAuth).
	Token string
	// StateURL is the coordinator's sqlite state store.
	StateURL string
	// Coordinator is the coordinator process.
	Coordinator *Process
	// Workers are the worker processes, in the coordinator's --workers order.
	Workers []*Process
	// extra are the coordinators AddCoordinator started.
	extra []*Process
}

// StartCluster starts bin/rapidbyte-worker × opts.Workers and
// bin/rapidbyte-coordinator on free 127.0.0.1 ports, with the repository's
// connectors, the shared compilation cache (CacheDir) and a fresh sqlite
// state in a temporary directory, waits until each reports SERVING on the
// gRPC health service, and stops them all in t.Cleanup (their logs are
// printed when the test failed).
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	RequireBinaries(t)
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	c := &Cluster{}
	if !opts.NoAuth {
		var b [16]byte
		_, _ = rand.Read(b[:])
		c.Token = hex.EncodeToString(b[:])
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		c.Stop(t)
		if t.Failed() {
			for _, p := range c.all() {
				t.Logf("=== %s log (tail):\n%s", p.Name, p.LogTail(60))
			}
		}
	})
	c.Addr = FreeAddr(t)
	var workerAddrs []string
	for i := range opts.Workers {
		addr := FreeAddr(t)
		args := []string{"--listen", addr, "--connectors-dir", ConnectorsDir(t), "--cache-dir", CacheDir(t),
			"--coordinator", c.Addr, "--drain-timeout", "2s", "--log-level", opts.LogLevel}
		args = append(args, opts.WorkerArgs...)
		w := &Process{Name: fmt.Sprintf("worker-%d", i+1), Addr: addr, Path: BinPath(t, "rapidbyte-worker"),
			Args: args, Env: c.serverEnv(t, opts.WorkerEnv), LogPath: filepath.Join(dir, fmt.Sprintf("worker-%d.log", i+1)), token: c.Token}
		c.Workers = append(c.Workers, w)
		workerAddrs = append(workerAddrs, addr)
		w.Start(t)
	}
	c.StateURL = "sqlite://" + filepath.Join(dir, "coordinator-state.db")
	args := []string{"--listen", c.Addr, "--workers", strings.Join(workerAddrs, ","), "--connectors-dir", ConnectorsDir(t),
		"--state", c.StateURL, "--log-level", opts.LogLevel}
	args = append(args, opts.CoordinatorArgs...)
	c.Coordinator = &Process{Name: "coordinator", Addr: c.Addr, Path: BinPath(t, "rapidbyte-coordinator"), Args: args,
		Env: c.serverEnv(t, nil), LogPath: filepath.Join(dir, "coordinator.log"), token: c.Token, TLS: opts.CoordinatorTLS}
	c.Coordinator.Start(t)
	for _, p := range c.all() {
		if err := p.WaitHealthy(HealthTimeout); err != nil {
			t.Fatalf("%v\n%s log:\n%s", err, p.Name, p.LogTail(60))
		}
	}
	return c
}

// AddCoordinator starts another coordinator on a free port with the
// first one's arguments (workers, state store, connectors) followed by
// extra, waits until it serves, and returns it (stopped with the cluster).
func (c *Cluster) AddCoordinator(t testing.TB, name string, extra ...string) *Process {
	t.Helper()
	addr := FreeAddr(t)
	args := append(append(append([]string{}, c.Coordinator.Args...), "--listen", addr), extra...)
	p := &Process{Name: name, Addr: addr, Path: c.Coordinator.Path, Args: args, Env: c.Coordinator.Env,
		LogPath: filepath.Join(filepath.Dir(c.Coordinator.LogPath), name+".log"), token: c.Token, TLS: c.Coordinator.TLS}
	c.extra = append(c.extra, p)
	p.Start(t)
	if err := p.WaitHealthy(HealthTimeout); err != nil {
		t.Fatalf("%v\n%s log:\n%s", err, name, p.LogTail(60))
	}
	return p
}

// serverEnv is a server process's environment, plus extra.
func (c *Cluster) serverEnv(t testing.TB, extra Env) Env {
	env := Env{"RAPIDBYTE_CACHE_DIR": CacheDir(t)}
	for k, v := range extra {
		env[k] = v
	}
	if c.Token != "" {
		env["RAPIDBYTE_AUTH_TOKEN"] = c.Token
	}
	return env
}

func (c *Cluster) all() []*Process {
	out := append([]*Process{}, c.Workers...)
	if c.Coordinator != nil {
		out = append(out, c.Coordinator)
	}
	return append(out, c.extra...)
}

// Env returns the CLI environment for this cluster (RAPIDBYTE_COORDINATOR
// and RAPIDBYTE_AUTH_TOKEN).
func (c *Cluster) Env() Env {
	env := Env{"RAPIDBYTE_COORDINATOR": c.Addr}
	if c.Token != "" {
		env["RAPIDBYTE_AUTH_TOKEN"] = c.Token
	}
	return env
}

// GRPCurl runs `bin/grpcurl -plaintext [-H authorization] [-d data] ADDR method`
// against the coordinator (data may be empty).
func (c *Cluster) GRPCurl(t testing.TB, method, data string) Result {
	t.Helper()
	args := []string{"-plaintext"}
	if c.Token != "" {
		args = append(args, "-H", "authorization: Bearer "+c.Token)
	}
	if data != "" {
		args = append(args, "-d", data)
	}
	args = append(args, c.Addr, method)
	return RunBinary(t, BinPath(t, "grpcurl"), nil, args...)
}

// Stop stops every process (workers first is not required: all get
// SIGTERM, then SIGKILL after 15s).
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range c.all() {
		wg.Go(func() {
			if err := p.Stop(15 * time.Second); err != nil {
				t.Logf("stop %s: %v", p.Name, err)
			}
		})
	}
	wg.Wait()
}

// Process is a server child process with its output in LogPath.
type Process struct {
	// Name labels the process in messages.
	Name string
	// Addr is its gRPC listen address.
	Addr string
	// Path, Args and Env are how it is started.
	Path string
	Args []string
	Env  Env
	// LogPath receives its stdout and stderr (appended across restarts).
	LogPath string
	// TLS, when it serves TLS, is the client configuration WaitHealthy uses.
	TLS *tls.Config

	token string
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
}

// Start starts the process (again, after Stop or Kill), failing the test on error.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			t.Fatalf("start %s: already running", p.Name)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open %s log: %v", p.Name, err)
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// Running reports whether the process was started and has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid returns the process id (0 when never started).
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the process (not its children).
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("not started")
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the exit.
func (p *Process) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	<-p.doneCh()
	return nil
}

// Stop sends SIGTERM, waits up to grace, then kills.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("terminate %s: %w", p.Name, err)
	}
	select {
	case <-p.doneCh():
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

func (p *Process) doneCh() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// WaitHealthy polls the gRPC health service (overall status "") until it
// reports SERVING, the process exits, or timeout passes.
func (p *Process) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	creds := insecure.NewCredentials()
	if p.TLS != nil {
		creds = credentials.NewTLS(p.TLS)
	}
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("dial %s at %s: %w", p.Name, p.Addr, err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	var last error
	for time.Now().Before(deadline) {
		if !p.Running() {
			return fmt.Errorf("%s exited before serving", p.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if p.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+p.token)
		}
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s at %s not healthy after %s: %v", p.Name, p.Addr, timeout, last)
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log returns the whole log of the process.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
