package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry/retrytest"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSleepWithFakeClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	clock := retrytest.NewClock(epoch)
	p := retry.Policy{MaxRetries: 3, Rand: func() float64 { return 0.5 }}
	e := runerr.ConnectorError{Category: runerr.CategoryTransientNetwork, Retryable: true, SafeToRetry: true}

	// Drive a retry loop: each backoff must be waited out on the fake clock.
	var waited []time.Duration
	for attempt := 1; ; attempt++ {
		ok, d, _ := p.Decide(attempt, e)
		if !ok {
			break
		}
		done := make(chan error, 1)
		go func() { done <- retry.Sleep(ctx, clock, d) }()
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(d - time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Sleep returned %v before its delay elapsed", err)
		case <-time.After(10 * time.Millisecond):
		}
		clock.Advance(time.Millisecond)
		if err := <-done; err != nil {
			t.Fatalf("Sleep: %v", err)
		}
		waited = append(waited, d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if len(waited) != len(want) {
		t.Fatalf("waited %v, want %v", waited, want)
	}
	for i := range want {
		if waited[i] != want[i] {
			t.Errorf("wait %d = %v, want %v", i, waited[i], want[i])
		}
	}
	if got := clock.Now().Sub(epoch); got != 7*time.Second {
		t.Errorf("clock advanced %v, want 7s", got)
	}
}

func TestSleepCancel(t *testing.T) {
	t.Run("cancel during backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		clock := retrytest.NewClock(epoch)
		done := make(chan error, 1)
		go func() { done <- retry.Sleep(ctx, clock, time.Minute) }()
		if err := clock.BlockUntil(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Sleep = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Sleep did not end on cancel")
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := retry.Sleep(ctx, retrytest.NewClock(epoch), time.Second); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("zero delay returns at once", func(t *testing.T) {
		if err := retry.Sleep(context.Background(), retrytest.NewClock(epoch), 0); err != nil {
			t.Errorf("Sleep(0) = %v", err)
		}
	})
	t.Run("real clock", func(t *testing.T) {
		start := time.Now()
		if err := retry.Sleep(context.Background(), retry.RealClock{}, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 5*time.Millisecond {
			t.Error("real Sleep returned early")
		}
	})
}

func TestFakeClockWaiters(t *testing.T) {
	clock := retrytest.NewClock(epoch)
	a := clock.After(2 * time.Second)
	b := clock.After(time.Second)
	if got := clock.Waiters(); len(got) != 2 {
		t.Fatalf("Waiters = %v", got)
	}
	clock.Advance(time.Second)
	select {
	case <-b:
	default:
		t.Error("1s waiter did not fire after 1s")
	}
	select {
	case <-a:
		t.Error("2s waiter fired after 1s")
	default:
	}
	clock.Advance(time.Second)
	if got := <-a; !got.Equal(epoch.Add(2 * time.Second)) {
		t.Errorf("fired at %v", got)
	}
	if got := clock.Waiters(); len(got) != 0 {
		t.Errorf("Waiters after firing = %v", got)
	}
}
