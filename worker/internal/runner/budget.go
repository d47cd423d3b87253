package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// MemoryBudget reserves guest memory caps against a worker's memory budget
// (the cgroup memory limit minus a reserve). It is safe for concurrent use.
type MemoryBudget struct {
	total int64
	sem   *semaphore.Weighted
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

// Reserve takes want bytes, waiting up to timeout; it returns the release
// function, or a *MemoryBusyError when the bytes never fit (at once when
// want exceeds the whole budget), or ctx's error.
func (b *MemoryBudget) Reserve(ctx context.Context, want int64, timeout time.Duration) (func(), error) {
	busy := &MemoryBusyError{Want: want, Total: b.total, RetryAfter: DefaultRetryAfter}
	if want <= 0 || want > b.total {
		if want <= 0 {
			return nil, fmt.Errorf("reserve %d bytes: %w", want, ErrInvalidRequest)
		}
		return nil, busy
	}
	if b.sem.TryAcquire(want) {
		return func() { b.sem.Release(want) }, nil
	}
	if timeout <= 0 {
		return nil, busy
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.sem.Acquire(wctx, want); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, busy
		}
		return nil, err
	}
	return func() { b.sem.Release(want) }, nil
}
