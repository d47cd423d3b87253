package runner

import (
	"context"
	"fmt"
	"sync"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/contract"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// AdmitCopy admits both halves of a stream copied on this worker (the
// worker's CopyStream): one guest slot for its two guests, and both memory
// reservations (each the stream's cap, or Config.GuestMemory) taken in one
// piece, so that copies arriving together cannot each hold one half's
// reservation while waiting for the other's. The read runs under read
// (ReadAdmitted), the write under write (WriteAdmitted); each releases its
// own, and the slot is freed when both are. Halves that together exceed
// the whole memory budget, though each fits alone, fail at once with
// ErrCopyOverBudget: they can run only on two workers.
func (r *Runner) AdmitCopy(ctx context.Context, readReq, writeReq StreamRequest) (read, write *Admission, err error) {
	readWant, writeWant := r.memoryWant(readReq), r.memoryWant(writeReq)
	if b := r.cfg.Memory; b != nil && readWant+writeWant > b.Total() && max(readWant, writeWant) <= b.Total() {
		return nil, nil, fmt.Errorf("%w: %d and %d bytes against %d", ErrCopyOverBudget, readWant, writeWant, b.Total())
	}
	slot, err := r.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	if b := r.cfg.Memory; b != nil {
		if err := b.take(ctx, readWant+writeWant, readWant+writeWant, r.cfg.QueueTimeout); err != nil {
			slot()
			return nil, nil, err
		}
	} else {
		readWant, writeWant = 0, 0
	}
	// The slot counts one guest (took); the second counts itself.
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.GuestStarted()
	}
	var mu sync.Mutex
	refs := 2
	leave := func() {
		mu.Lock()
		refs--
		last := refs == 0
		mu.Unlock()
		if last {
			slot()
		}
	}
	read = &Admission{budget: r.cfg.Memory, held: readWant, slot: leave}
	write = &Admission{budget: r.cfg.Memory, held: writeWant, slot: func() {
		if r.cfg.Metrics != nil {
			r.cfg.Metrics.GuestFinished()
		}
		leave()
	}}
	return read, write, nil
}

// ReadAdmitted is Read under adm, an Admission taken before (nil: admit
// now); it is released when the read ends.
func (r *Runner) ReadAdmitted(ctx context.Context, adm *Admission, req StreamRequest, sink guest.ReadSink) (Result, error) {
	if adm != nil {
		defer adm.Release()
	}
	return r.stream(ctx, adm, req, abi.OpRead, abi.RoleSource, sink, func(ctx context.Context, m guest.Module, inv guest.Invocation) (guest.Stats, error) {
		return m.Read(ctx, inv, contract.NewSink(m.Manifest().ID, req.Stream, sink, inv.Logger))
	})
}

// memoryWant is the guest memory a stream reserves: its cap, or
// Config.GuestMemory.
func (r *Runner) memoryWant(req StreamRequest) int64 {
	if want := int64(req.Stream.Limits.MaxMemoryBytes); want != 0 {
		return want
	}
	return r.cfg.GuestMemory
}
