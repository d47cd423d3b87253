package runner

import (
	"context"
	"errors"
	"testing"
)

// TestAdmissionResize: an admission reserves the default cap and a slot,
// grows or shrinks to a stream's cap, refuses to grow past the budget
// (keeping what it holds), and Release (idempotent) returns everything.
func TestAdmissionResize(t *testing.T) {
	ctx := context.Background()
	budget := NewMemoryBudget(100 << 20)
	r := New(staticResolver{}, Config{MaxStreams: 2, Memory: budget, GuestMemory: 40 << 20})
	a, err := r.AdmitWrite(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if budget.Reserved() != 40<<20 || r.InUse() != 1 {
		t.Fatalf("after Admit: reserved %d, slots %d; want %d, 1", budget.Reserved(), r.InUse(), 40<<20)
	}
	for _, step := range []struct {
		want, reserved int64
		busy           bool
	}{
		{60 << 20, 60 << 20, false},   // grows
		{10 << 20, 10 << 20, false},   // shrinks, returning the rest
		{200 << 20, 10 << 20, true},   // past the whole budget: busy, keeps its 10
		{100 << 20, 100 << 20, false}, // the whole budget
	} {
		err := a.resize(ctx, step.want, 0)
		var mb *MemoryBusyError
		if errors.As(err, &mb) != step.busy || !step.busy && err != nil {
			t.Errorf("resize(%d) = %v, want busy %v", step.want, err, step.busy)
		}
		if budget.Reserved() != step.reserved {
			t.Errorf("after resize(%d): reserved %d, want %d", step.want, budget.Reserved(), step.reserved)
		}
	}
	// Full: another admission is busy at once (no queue timeout).
	if _, err := r.AdmitWrite(ctx, ""); !errors.As(err, new(*MemoryBusyError)) {
		t.Errorf("Admit with the budget full = %v, want MemoryBusyError", err)
	}
	if r.InUse() != 1 {
		t.Errorf("a refused admission kept its slot: %d in use", r.InUse())
	}
	a.Release()
	a.Release()
	if budget.Reserved() != 0 || r.InUse() != 0 {
		t.Errorf("after Release: reserved %d, slots %d; want 0, 0", budget.Reserved(), r.InUse())
	}
	if err := a.resize(ctx, 1<<20, 0); !errors.Is(err, errReleased) {
		t.Errorf("resize after Release = %v, want errReleased", err)
	}
}
