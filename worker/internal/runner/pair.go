package runner

import (
	"context"
	"time"
)

// Paired admission: the coordinator gives a stream's read (DoGet or
// DoExchange) and write (DoPut) the same pair key (gRPC metadata, see
// grpcapi.PairHeader). When both land on one worker they share one guest
// slot: whichever is admitted first takes it, the other joins without
// waiting, and the slot is freed when both have ended. Without it, reads
// could hold every slot while their writes waited (the relay then blocks
// the reads: nothing moves until the queue timeout fails the writes with
// WORKER_BUSY), or writes every slot while their reads waited. Each joins
// at most once per role, so a key cannot admit more than one read and one
// write on one slot.
//
// Since CopyStream a stream's halves normally arrive together and are
// admitted as one (AdmitCopy: one slot, both reservations at once); paired
// admission serves the halves of a relayed stream (a coordinator relays
// for workers that predate CopyStream). Two limits remain there. Pairing
// works only where both halves land on one worker: the coordinator places
// a relayed write apart from its read whenever another worker is ready, so
// on a cluster of several workers the halves usually hold a slot each, and
// a parallelism above all the workers' slots can still end in WORKER_BUSY.
// And memory is still reserved per guest: a joining half waits for its own
// reservation, so a worker whose memory budget the reads have filled can
// still refuse their writes (a MemoryBusyError); the embedded worker has
// no budget.

// pairRole is the half of a stream a call serves.
type pairRole int

const (
	pairRead pairRole = iota
	pairWrite
)

// pair is one admitted stream half, joinable by the other half.
type pair struct {
	joined  [2]bool
	refs    int
	release func() // frees the slot
}

// admitPaired is admit for one half of the stream with pair key key ("" for
// none): it joins the other half's slot when that half is admitted on this
// worker, waiting for a slot or for that half, up to the queue timeout.
func (r *Runner) admitPaired(ctx context.Context, key string, role pairRole, want int64) (*Admission, error) {
	if key == "" {
		return r.admit(ctx, want)
	}
	var timer *time.Timer
	for {
		r.pairMu.Lock()
		if p := r.pairs[key]; p != nil && !p.joined[role] {
			p.joined[role] = true
			p.refs++
			r.pairMu.Unlock()
			if r.cfg.Metrics != nil {
				r.cfg.Metrics.GuestStarted()
			}
			a := &Admission{budget: r.cfg.Memory, slot: func() {
				if r.cfg.Metrics != nil {
					r.cfg.Metrics.GuestFinished()
				}
				r.leave(key, p)
			}}
			if err := a.resize(ctx, want, r.cfg.QueueTimeout); err != nil {
				a.Release()
				return nil, err
			}
			return a, nil
		}
		changed := r.pairsChanged
		r.pairMu.Unlock()

		var slot func()
		select {
		case r.slots <- struct{}{}:
			slot = r.took()
		default:
			if r.cfg.QueueTimeout <= 0 {
				return nil, &BusyError{MaxStreams: r.cfg.MaxStreams, RetryAfter: DefaultRetryAfter}
			}
			if timer == nil {
				timer = time.NewTimer(r.cfg.QueueTimeout)
				defer timer.Stop()
			}
			select {
			case r.slots <- struct{}{}:
				slot = r.took()
			case <-changed:
				continue // the other half may have been admitted: try to join it
			case <-timer.C:
				return nil, &BusyError{MaxStreams: r.cfg.MaxStreams, RetryAfter: DefaultRetryAfter}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		a := &Admission{budget: r.cfg.Memory, slot: slot}
		r.pairMu.Lock()
		switch p, taken := r.pairs[key]; {
		case !taken:
			p := &pair{refs: 1, release: slot}
			p.joined[role] = true
			r.pairs[key] = p
			a.slot = func() { r.leave(key, p) }
			close(r.pairsChanged)
			r.pairsChanged = make(chan struct{})
		case !p.joined[role]:
			// The other half was admitted while this one took a slot:
			// give the slot back and join it, so that the pair holds one.
			r.pairMu.Unlock()
			slot()
			continue
		}
		r.pairMu.Unlock()
		if err := a.resize(ctx, want, r.cfg.QueueTimeout); err != nil {
			a.Release()
			return nil, err
		}
		return a, nil
	}
}

// leave ends one half's use of p's slot; the last frees it.
func (r *Runner) leave(key string, p *pair) {
	r.pairMu.Lock()
	p.refs--
	last := p.refs == 0
	if last && r.pairs[key] == p {
		delete(r.pairs, key)
	}
	r.pairMu.Unlock()
	if last {
		p.release()
	}
}

// AdmitWrite admits a write before its request is read: it takes a guest
// slot and reserves the default guest memory cap (Config.GuestMemory),
// each waiting up to the queue timeout, and fails with a *BusyError (a
// *MemoryBusyError for memory) when the worker is full. With a pair key
// ("": none) it shares the slot of the stream's read when that runs here.
func (r *Runner) AdmitWrite(ctx context.Context, pair string) (*Admission, error) {
	return r.admitPaired(ctx, pair, pairWrite, r.cfg.GuestMemory)
}
