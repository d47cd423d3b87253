package sdk

import (
	"context"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Phase names a part of a stream's work whose time the engine reports
// (per-phase timings of a run's result).
type Phase string

// Phases a source or destination may record.
const (
	// PhaseConnect is connecting to the system (in Open).
	PhaseConnect Phase = "connect"
	// PhaseQuery is a source's time until its query returns its first rows.
	PhaseQuery Phase = "query"
	// PhaseFetch is a source's time receiving and decoding rows.
	PhaseFetch Phase = "fetch"
	// PhaseFlush is a destination's time sending rows (COPY data).
	PhaseFlush Phase = "flush"
	// PhaseCommit is a destination's time committing.
	PhaseCommit Phase = "commit"
)

// phases accumulates one guest instance's phase times.
type phases struct {
	mu sync.Mutex
	d  map[Phase]time.Duration
}

type phasesKey struct{}

// RecordPhase adds d to phase p of the operation ctx belongs to (the ctx
// the SDK passed to Open, Read or Write). The SDK reports the totals to the
// host when Read or Write returns successfully. It is safe for concurrent
// use and does nothing with a ctx the SDK did not create.
func RecordPhase(ctx context.Context, p Phase, d time.Duration) {
	ph, _ := ctx.Value(phasesKey{}).(*phases)
	if ph == nil {
		return
	}
	ph.mu.Lock()
	if ph.d == nil {
		ph.d = map[Phase]time.Duration{}
	}
	ph.d[p] += d
	ph.mu.Unlock()
}

// result returns the totals as the host reads them.
func (ph *phases) result() abi.StreamResult {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	out := abi.StreamResult{PhaseSecs: make(map[string]float64, len(ph.d))}
	for p, d := range ph.d {
		out.PhaseSecs[string(p)] = d.Seconds()
	}
	return out
}
