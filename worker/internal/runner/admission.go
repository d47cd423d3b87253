package runner

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errReleased means an Admission was used after its Release.
var errReleased = errors.New("admission already released")

// Admission is a guest slot with a reservation of guest memory, taken
// before a stream's request is read: a DoPut admits before it receives its
// first message, so a flood of writes waiting for slots holds no payload.
// WriteAdmitted resizes the reservation to the stream's own cap and runs
// the write under it. Release frees both; it is idempotent and safe to call
// after WriteAdmitted.
type Admission struct {
	budget *MemoryBudget // nil: slots only
	slot   func()
	mu     sync.Mutex
	held   int64 // bytes of budget reserved
	done   bool
}

// admit takes a slot and reserves want bytes when the runner has a budget.
func (r *Runner) admit(ctx context.Context, want int64) (*Admission, error) {
	slot, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	a := &Admission{budget: r.cfg.Memory, slot: slot}
	if err := a.resize(ctx, want, r.cfg.QueueTimeout); err != nil {
		a.Release()
		return nil, err
	}
	return a, nil
}

// resize makes the reservation want bytes: it reserves the difference
// (waiting up to timeout) or returns the excess at once.
func (a *Admission) resize(ctx context.Context, want int64, timeout time.Duration) error {
	if a.budget == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.done:
		return errReleased
	case want > a.held:
		if err := a.budget.take(ctx, want-a.held, want, timeout); err != nil {
			return err
		}
	case want < a.held:
		a.budget.release(a.held - want)
	}
	a.held = want
	return nil
}

// Release frees the slot and the reservation; on nil it does nothing.
func (a *Admission) Release() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	if a.held > 0 {
		a.budget.release(a.held)
		a.held = 0
	}
	a.slot()
}
