package relay

import (
	"context"
	"sync"
)

// MaxInflightBytes bounds the bytes of relayed messages queued between a
// source and a destination, on top of the message count bound, so that a
// count of 16 cannot hold 16 wide batches (10+ MB each) in the coordinator.
// A message larger than the bound still passes when nothing else is queued.
//
// The bound is small on purpose. The destination is usually the slower
// half, so the queue stays full, and whatever it holds when the source
// ends is written after it, with the source's CPU idle (on a 2-core
// machine one of two cores): 32 MiB, the bound before, held 13 batches of
// the bench's table and left the destination writing for 0.6 s after a
// 2.5 s read. The gRPC flow-control windows on both hops and the workers'
// own buffers still decouple the two halves, so 4 MiB loses no overlap
// (docs/rationale.md, "A 4 MiB relay queue").
const MaxInflightBytes = 4 << 20

// byteGate counts queued bytes against a limit.
type byteGate struct {
	mu     sync.Mutex
	cond   sync.Cond
	used   int
	limit  int
	closed bool
}

// newByteGate returns a gate of limit bytes that opens for good once ctx
// is done.
func newByteGate(ctx context.Context, limit int) *byteGate {
	g := &byteGate{limit: limit}
	g.cond.L = &g.mu
	context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		g.cond.Broadcast()
	})
	return g
}

// acquire waits until n more bytes fit (or nothing is queued) and counts
// them. It returns false, counting nothing, when ctx ended first.
func (g *byteGate) acquire(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.used > 0 && g.used+n > g.limit && !g.closed {
		g.cond.Wait()
	}
	if g.closed {
		return false
	}
	g.used += n
	return true
}

// release uncounts n bytes acquired before.
func (g *byteGate) release(n int) {
	g.mu.Lock()
	g.used -= n
	g.mu.Unlock()
	g.cond.Broadcast()
}
