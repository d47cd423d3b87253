package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// MemoryBudget reserves guest memory caps against a worker's memory budget
// (the cgroup memory limit minus a reserve). It is safe for concurrent use.
type MemoryBudget struct {
	total    int64
	sem      *semaphore.Weighted
	reserved atomic.Int64
}

// MemoryBusyError means a reservation did not fit within the queue timeout.
type MemoryBusyError struct {
	// Want is the bytes asked for; Total is the budget.
	Want, Total int64
	// RetryAfter is how long the client should wait before retrying.
	RetryAfter time.Duration
}

// Error implements error.
func (e *MemoryBusyError) Error() string {
	return fmt.Sprintf("worker busy: %d bytes of guest memory do not fit the %d byte budget now; retry after %s",
		e.Want, e.Total, e.RetryAfter)
}

// Unwrap makes a MemoryBusyError a *BusyError too, so it maps to
// RESOURCE_EXHAUSTED with a retryable WORKER_BUSY ConnectorError.
func (e *MemoryBusyError) Unwrap() error { return &BusyError{RetryAfter: e.RetryAfter} }

// NewMemoryBudget returns a budget of total bytes (> 0).
func NewMemoryBudget(total int64) *MemoryBudget {
	return &MemoryBudget{total: total, sem: semaphore.NewWeighted(total)}
}

// Total returns the budget in bytes.
func (b *MemoryBudget) Total() int64 { return b.total }

// Reserved returns the bytes reserved now (the worker's
// rapidbyte_worker_guest_memory_reserved_bytes gauge); never above Total.
func (b *MemoryBudget) Reserved() int64 { return b.reserved.Load() }

// Reserve takes want bytes, waiting up to timeout; it returns the release
// function, or a *MemoryBusyError when the bytes never fit (at once when
// want exceeds the whole budget), or ctx's error.
func (b *MemoryBudget) Reserve(ctx context.Context, want int64, timeout time.Duration) (func(), error) {
	if want <= 0 {
		return nil, fmt.Errorf("reserve %d bytes: %w", want, ErrInvalidRequest)
	}
	if err := b.take(ctx, want, want, timeout); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { b.release(want) }) }, nil
}

// take reserves n more bytes for a reservation that then holds total,
// waiting up to timeout; see Reserve for the errors.
func (b *MemoryBudget) take(ctx context.Context, n, total int64, timeout time.Duration) error {
	busy := &MemoryBusyError{Want: total, Total: b.total, RetryAfter: DefaultRetryAfter}
	if total > b.total {
		return busy
	}
	if b.sem.TryAcquire(n) {
		b.reserved.Add(n)
		return nil
	}
	if timeout <= 0 {
		return busy
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.sem.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return busy
		}
		return err
	}
	b.reserved.Add(n)
	return nil
}

// release returns n reserved bytes.
func (b *MemoryBudget) release(n int64) {
	b.reserved.Add(-n)
	b.sem.Release(n)
}
