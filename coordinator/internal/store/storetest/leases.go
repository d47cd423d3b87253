package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// testLease walks one pipeline's lease through its life: acquire, no steal
// before expiry, renewal, steal after expiry, the old holder losing it, a
// restarted owner re-acquiring its own lease, release.
func testLease(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ttl := 10 * time.Second
	a := store.Lease{Pipeline: "p", RunID: "run-a", Owner: "coord-a", ExpiresAt: base.Add(ttl)}
	if _, err := s.GetLease(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLease before any = %v, want ErrNotFound", err)
	}
	held, ok, err := s.AcquireLease(ctx, a, base)
	if err != nil || !ok || held != a {
		t.Fatalf("AcquireLease(free) = %+v, %v, %v; want %+v, true", held, ok, err, a)
	}

	b := store.Lease{Pipeline: "p", RunID: "run-b", Owner: "coord-b", ExpiresAt: base.Add(ttl + 5*time.Second)}
	// Before expiry nobody else gets it, and the caller learns who holds it.
	for _, now := range []time.Time{base, base.Add(ttl - time.Microsecond), base.Add(ttl)} {
		held, ok, err = s.AcquireLease(ctx, b, now)
		if err != nil || ok || held != a {
			t.Fatalf("AcquireLease(held, now %v) = %+v, %v, %v; want %+v, false", now.Sub(base), held, ok, err, a)
		}
	}
	// Another owner of the same run is not the holder either.
	if _, ok, _ := s.AcquireLease(ctx, store.Lease{Pipeline: "p", RunID: "run-a", Owner: "coord-b", ExpiresAt: base.Add(time.Hour)}, base); ok {
		t.Fatal("AcquireLease(same run, other owner) before expiry succeeded")
	}

	// The holder renews: the lease now outlives the old expiry.
	a.ExpiresAt = base.Add(2 * ttl)
	if ok, err := s.RenewLease(ctx, a); err != nil || !ok {
		t.Fatalf("RenewLease(holder) = %v, %v; want true", ok, err)
	}
	if _, ok, _ := s.AcquireLease(ctx, b, base.Add(ttl+time.Second)); ok {
		t.Fatal("lease stolen after renewal, before the new expiry")
	}
	if got, err := s.GetLease(ctx, "p"); err != nil || got != a {
		t.Fatalf("GetLease = %+v, %v; want %+v", got, err, a)
	}
	// A restarted coordinator with the holder's owner id takes its own lease back at once.
	again := a
	again.ExpiresAt = base.Add(3 * ttl)
	if held, ok, err := s.AcquireLease(ctx, again, base); err != nil || !ok || held != again {
		t.Fatalf("AcquireLease(same run and owner) = %+v, %v, %v; want %+v, true", held, ok, err, again)
	}
	a = again

	// After expiry another coordinator steals it ...
	stealAt := a.ExpiresAt.Add(time.Microsecond)
	b.ExpiresAt = stealAt.Add(ttl)
	if held, ok, err := s.AcquireLease(ctx, b, stealAt); err != nil || !ok || held != b {
		t.Fatalf("AcquireLease(expired) = %+v, %v, %v; want %+v, true", held, ok, err, b)
	}
	// ... and the old holder can neither renew nor release it.
	a.ExpiresAt = stealAt.Add(time.Hour)
	if ok, err := s.RenewLease(ctx, a); err != nil || ok {
		t.Errorf("RenewLease(old holder) = %v, %v; want false", ok, err)
	}
	if err := s.ReleaseLease(ctx, "p", a.RunID, a.Owner); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetLease(ctx, "p"); err != nil || got != b {
		t.Fatalf("after the old holder's release, GetLease = %+v, %v; want %+v", got, err, b)
	}
	if ok, err := s.RenewLease(ctx, store.Lease{Pipeline: "other", RunID: "x", Owner: "y", ExpiresAt: base}); err != nil || ok {
		t.Errorf("RenewLease(no lease) = %v, %v; want false", ok, err)
	}
	// The holder releases it; then anyone may take it.
	if err := s.ReleaseLease(ctx, "p", b.RunID, b.Owner); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLease(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLease after release = %v, want ErrNotFound", err)
	}
	c := store.Lease{Pipeline: "p", RunID: "run-c", Owner: "coord-a", ExpiresAt: base.Add(ttl)}
	if _, ok, err := s.AcquireLease(ctx, c, base); err != nil || !ok {
		t.Fatalf("AcquireLease(released) = %v, %v; want true", ok, err)
	}
}

// testLeaseRace has several coordinators race for one expired lease and
// for one free lease: exactly one wins each, and the stored lease is the
// winner's.
func testLeaseRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, ok, err := s.AcquireLease(ctx, store.Lease{Pipeline: "expired", RunID: "r", Owner: "dead", ExpiresAt: base}, base); err != nil || !ok {
		t.Fatalf("seed lease: %v, %v", ok, err)
	}
	now := base.Add(time.Minute)
	for _, pipeline := range []string{"expired", "free"} {
		const n = 8
		wins := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := store.Lease{Pipeline: pipeline, RunID: fmt.Sprintf("run-%d", i), Owner: fmt.Sprintf("c%d", i), ExpiresAt: now.Add(time.Minute)}
				_, ok, err := s.AcquireLease(ctx, l, now)
				if err != nil {
					t.Error(err)
				}
				wins[i] = ok
			}()
		}
		wg.Wait()
		winner := -1
		for i, ok := range wins {
			if ok {
				if winner >= 0 {
					t.Fatalf("%s: both c%d and c%d acquired the lease", pipeline, winner, i)
				}
				winner = i
			}
		}
		got, err := s.GetLease(ctx, pipeline)
		if err != nil || winner < 0 || got.Owner != fmt.Sprintf("c%d", winner) || got.RunID != fmt.Sprintf("run-%d", winner) {
			t.Errorf("%s: lease %+v (err %v), winner c%d", pipeline, got, err, winner)
		}
	}
}

func testLeaseList(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if got, err := s.ListLeases(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListLeases(empty) = %v, %v", got, err)
	}
	want := []store.Lease{
		{Pipeline: "a", RunID: "r1", Owner: "x", ExpiresAt: base},
		{Pipeline: "b", RunID: "r2", Owner: "y", ExpiresAt: base.Add(time.Second)},
	}
	for _, l := range []store.Lease{want[1], want[0]} {
		if _, ok, err := s.AcquireLease(ctx, l, base); err != nil || !ok {
			t.Fatalf("AcquireLease(%s) = %v, %v", l.Pipeline, ok, err)
		}
	}
	got, err := s.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListLeases (-want +got):\n%s", diff)
	}
	if !want[0].Expired(base.Add(time.Microsecond)) || want[0].Expired(base) {
		t.Error("Lease.Expired disagrees with AcquireLease's rule (expired once now is after ExpiresAt)")
	}
}
