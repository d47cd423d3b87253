package server

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
)

// calls counts the RPCs a drain must wait for: every call except
// long-lived watch streams (health Watch, reflection), which would
// otherwise hold a graceful stop open until the drain timeout. Once the
// counted calls are done, endWatches ends the watch streams so the graceful
// stop can complete.
type calls struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0

	watchOnce sync.Once
	watchDone chan struct{}
}

func newCalls() *calls {
	c := &calls{idle: make(chan struct{}), watchDone: make(chan struct{})}
	close(c.idle)
	return c
}

// endWatches ends every running and future watch stream.
func (c *calls) endWatches() { c.watchOnce.Do(func() { close(c.watchDone) }) }

// watchStream gives a watch stream a context that endWatches cancels.
type watchStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *watchStream) Context() context.Context { return w.ctx }

func exempt(method string) bool {
	return method == "/grpc.health.v1.Health/Watch" || strings.HasPrefix(method, "/grpc.reflection.")
}

func (c *calls) begin() {
	c.mu.Lock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
	c.mu.Unlock()
}

func (c *calls) end() {
	c.mu.Lock()
	c.n--
	if c.n == 0 {
		close(c.idle)
	}
	c.mu.Unlock()
}

// idleCh returns a channel closed once no counted call runs.
func (c *calls) idleCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idle
}

func (c *calls) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c.begin()
		defer c.end()
		return handler(ctx, req)
	}
}

func (c *calls) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if exempt(info.FullMethod) {
			ctx, cancel := context.WithCancel(ss.Context())
			defer cancel()
			go func() {
				select {
				case <-c.watchDone:
					cancel()
				case <-ctx.Done():
				}
			}()
			return handler(srv, &watchStream{ServerStream: ss, ctx: ctx})
		}
		c.begin()
		defer c.end()
		return handler(srv, ss)
	}
}
