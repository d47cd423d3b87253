package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
)

// fakeHost is a host whose modules are guesttest fakes.
type fakeHost struct {
	guesttest.Loader
	abandoned atomic.Int64
	closed    atomic.Int32
}

func (f *fakeHost) Abandoned() int64            { return f.abandoned.Load() }
func (f *fakeHost) Close(context.Context) error { f.closed.Add(1); return nil }

// testWorker is a running worker on 127.0.0.1:0.
type testWorker struct {
	srv    *Server
	host   *fakeHost
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startWorker writes one <id>.wasm per template into a connectors dir and
// serves a worker whose host loads them as fakes.
func startWorker(t *testing.T, mutate func(*Config), templates map[string]*guesttest.Module) *testWorker {
	t.Helper()
	return startWorkerHook(t, mutate, templates, nil)
}

// startWorkerHook is startWorker with a hook that may register more
// services on the server before it serves.
func startWorkerHook(t *testing.T, mutate func(*Config), templates map[string]*guesttest.Module, hook func(*Server)) *testWorker {
	t.Helper()
	dir := t.TempDir()
	for id, tmpl := range templates {
		man := tmpl.Man
		if man.ID == "" {
			man = guesttest.Manifest(id, "1.0.0", abi.RoleSource, abi.RoleDestination)
			tmpl.Man = man
		}
		if err := os.WriteFile(filepath.Join(dir, id+".wasm"), guesttest.Wasm(man), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Default()
	cfg.ConnectorsDir = dir
	cfg.CacheDir = t.TempDir()
	cfg.DrainTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{Loader: guesttest.Loader{Templates: templates}}
	srv, err := newServer(cfg, hclog.NewNullLogger(), h)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(srv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWorker{srv: srv, host: h, addr: lis.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Error("worker did not stop")
		}
		_ = srv.Close()
	})
	return w
}

// dial returns a client connection to the worker.
func (w *testWorker) dial(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(w.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var _ modules.Loader = (*fakeHost)(nil)
