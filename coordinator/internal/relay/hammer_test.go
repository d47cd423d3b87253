package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// hammer runs p goroutines that all start at once (released by one closed
// channel, as wazero's internal/testing/hammer does) and each call f(g, i)
// for i in [0, n). Run under -race (make test does), it finds the data races
// a sequential test cannot.
func hammer(t *testing.T, p, n int, f func(g, i int)) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range n {
				f(g, i)
			}
		}()
	}
	close(start)
	wg.Wait()
}

// TestByteGateHammer checks the gate's invariant while many goroutines take
// and give back bytes: a holder of n <= limit bytes sees at most limit
// queued, a holder of a larger message sees exactly its own bytes (it passed
// alone), and everything is given back in the end.
func TestByteGateHammer(t *testing.T) {
	const limit = 1000
	g := newByteGate(t.Context(), limit)
	var mu sync.Mutex
	var violations []string
	hammer(t, 16, 400, func(_, i int) {
		n := 1 + rand.IntN(limit/3)
		if i%50 == 0 {
			n = limit + rand.IntN(limit) // larger than the gate
		}
		if !g.acquire(n) {
			t.Error("acquire failed before the context ended")
			return
		}
		g.mu.Lock()
		used := g.used
		g.mu.Unlock()
		if (n <= limit && used > limit) || (n > limit && used != n) {
			mu.Lock()
			violations = append(violations, fmt.Sprintf("holding %d, %d queued", n, used))
			mu.Unlock()
		}
		g.release(n)
	})
	if len(violations) > 0 {
		t.Errorf("%d violations of the %d-byte limit, first: %s", len(violations), limit, violations[0])
	}
	if g.used != 0 {
		t.Errorf("%d bytes still counted after every release", g.used)
	}
}

// TestByteGateHammerCancel ends the context while many goroutines wait on
// a full gate: every one of them returns false, none hangs.
func TestByteGateHammerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	g := newByteGate(ctx, 10)
	if !g.acquire(10) {
		t.Fatal("acquire of an empty gate failed")
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	var mu sync.Mutex
	passed := 0
	hammer(t, 32, 1, func(int, int) {
		if g.acquire(1) {
			mu.Lock()
			passed++
			mu.Unlock()
		}
	})
	if passed != 0 {
		t.Errorf("%d acquires passed a full gate", passed)
	}
}

// TestRelayHammer relays many streams at once through one relayer and two
// workers, reading progress while they run and cancelling some midway:
// every stream that is not cancelled arrives whole, every cancelled one
// ends with a cancelled error, and nothing hangs.
func TestRelayHammer(t *testing.T) {
	const streams, batches, rows = 24, 12, 10
	msgs := cannedMessages(t, batches, rows, 16<<10)
	w1 := startFake(t, &fakeWorker{getMsgs: msgs})
	w2 := startFake(t, &fakeWorker{getMsgs: msgs})
	rl := newTestRelayer(t, w1.addr, w2.addr)
	parent := testCtx(t)
	hammer(t, streams, 1, func(g, _ int) {
		read, write := testTickets()
		ctx, cancel := context.WithCancel(parent)
		defer cancel()
		cancelled := g%4 == 3
		var mu sync.Mutex
		var last Progress
		res, err := rl.relayTickets(ctx, read, write, 1+g%4, nil, nil, func(pr Progress) {
			mu.Lock()
			last = pr
			mu.Unlock()
			if cancelled && pr.MessagesSent >= 3 {
				cancel()
			}
		})
		mu.Lock()
		defer mu.Unlock()
		if cancelled {
			var ce *runerr.ConnectorError
			if err == nil {
				return // the stream may finish before the cancel lands
			}
			if !errors.As(err, &ce) || ce.Category != runerr.CategoryCancelled {
				t.Errorf("stream %d: error %v, want a cancelled error", g, err)
			}
			return
		}
		if err != nil {
			t.Errorf("stream %d: %v", g, err)
			return
		}
		if res.RecordsWritten != batches*rows || !res.Final || last.MessagesSent != uint64(len(msgs)) {
			t.Errorf("stream %d: wrote %d records (final %v), sent %d messages; want %d, final, %d",
				g, res.RecordsWritten, res.Final, last.MessagesSent, batches*rows, len(msgs))
		}
	})
}
