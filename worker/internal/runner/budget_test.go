package runner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryBudgetHammer(t *testing.T) {
	const total, unit = 8 << 20, 1 << 20
	b := NewMemoryBudget(total)
	var held, peak, ok, busy atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := int64(unit * (1 + i%3))
			release, err := b.Reserve(context.Background(), want, 5*time.Millisecond)
			var mb *MemoryBusyError
			if errors.As(err, &mb) {
				busy.Add(1)
				return
			}
			if err != nil {
				t.Errorf("reserve: %v", err)
				return
			}
			ok.Add(1)
			now := held.Add(want)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			held.Add(-want)
			release()
		}()
	}
	wg.Wait()
	if peak.Load() > total {
		t.Fatalf("peak reservation %d exceeds budget %d", peak.Load(), total)
	}
	if ok.Load() == 0 {
		t.Fatal("no reservation succeeded")
	}
	// Everything released: the whole budget fits again at once.
	release, err := b.Reserve(context.Background(), total, 0)
	if err != nil {
		t.Fatalf("full budget after release: %v", err)
	}
	release()
	t.Logf("ok=%d busy=%d peak=%d", ok.Load(), busy.Load(), peak.Load())
}

func TestMemoryBudgetTooLargeAndTimeout(t *testing.T) {
	b := NewMemoryBudget(4 << 20)
	var mb *MemoryBusyError
	if _, err := b.Reserve(context.Background(), 5<<20, time.Second); !errors.As(err, &mb) {
		t.Fatalf("over budget: got %v, want MemoryBusyError", err)
	}
	release, err := b.Reserve(context.Background(), 4<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.Reserve(context.Background(), 1, 20*time.Millisecond); !errors.As(err, &mb) {
		t.Fatalf("full budget: got %v, want MemoryBusyError", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("returned before the queue timeout")
	}
	release()
	if _, err := b.Reserve(context.Background(), 0, 0); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("zero: got %v", err)
	}
}
