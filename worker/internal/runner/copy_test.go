package runner

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A copy's two halves take one slot and both reservations at once: a
// second copy that does not fit is refused whole (it holds nothing while
// it waits), and the slot and memory come back only when both halves end.
func TestAdmitCopyTakesBothHalvesAtOnce(t *testing.T) {
	ctx := context.Background()
	const g = 64 << 20
	budget := NewMemoryBudget(2 * g)
	r := New(staticResolver{}, Config{MaxStreams: 4, QueueTimeout: 50 * time.Millisecond, Memory: budget, GuestMemory: g})
	var req StreamRequest
	read, write, err := r.AdmitCopy(ctx, req, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := budget.Reserved(); got != 2*g {
		t.Errorf("reserved %d, want both halves' %d", got, 2*g)
	}
	if _, _, err := r.AdmitCopy(ctx, req, req); !errors.As(err, new(*MemoryBusyError)) {
		t.Errorf("a copy beyond the budget = %v, want MemoryBusyError", err)
	}
	if got := budget.Reserved(); got != 2*g || r.InUse() != 1 {
		t.Errorf("after the refusal: reserved %d, %d slots in use; want %d and 1", got, r.InUse(), 2*g)
	}
	read.Release()
	if r.InUse() != 1 || budget.Reserved() != g {
		t.Errorf("after the read ended: %d slots in use, reserved %d; want 1 and %d", r.InUse(), budget.Reserved(), g)
	}
	write.Release()
	if r.InUse() != 0 || budget.Reserved() != 0 {
		t.Errorf("after both ended: %d slots in use, reserved %d; want none", r.InUse(), budget.Reserved())
	}
	if _, _, err := r.AdmitCopy(ctx, req, req); err != nil {
		t.Errorf("a copy after the first ended: %v", err)
	}
}

// Halves that fit the budget one at a time but not together can never be
// copied on this worker: refused at once, holding nothing, with
// ErrCopyOverBudget (not busy: waiting would not help). A half over the
// whole budget alone is busy, as its read or write would be.
func TestAdmitCopyOverBudget(t *testing.T) {
	ctx := context.Background()
	const total = 96 << 20
	budget := NewMemoryBudget(total)
	r := New(staticResolver{}, Config{MaxStreams: 4, QueueTimeout: time.Second, Memory: budget, GuestMemory: 32 << 20})
	var req StreamRequest
	req.Stream.Limits.MaxMemoryBytes = 64 << 20
	start := time.Now()
	if _, _, err := r.AdmitCopy(ctx, req, req); !errors.Is(err, ErrCopyOverBudget) {
		t.Errorf("two 64 MiB halves on a 96 MiB budget = %v, want ErrCopyOverBudget", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond || r.InUse() != 0 || budget.Reserved() != 0 {
		t.Errorf("refused after %v, %d slots in use, %d bytes reserved; want at once, holding nothing", d, r.InUse(), budget.Reserved())
	}
	req.Stream.Limits.MaxMemoryBytes = 128 << 20
	if _, _, err := r.AdmitCopy(ctx, req, req); !errors.As(err, new(*MemoryBusyError)) {
		t.Errorf("a half over the whole budget = %v, want MemoryBusyError", err)
	}
}
