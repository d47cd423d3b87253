package runner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A stream's read and write with one pair key share one slot: with a
// single slot both are admitted, a second read or write of the same key
// and any other key are refused, and the slot frees only when both ended.
func TestPairedAdmissionSharesOneSlot(t *testing.T) {
	ctx := context.Background()
	r := New(staticResolver{}, Config{MaxStreams: 1, QueueTimeout: 50 * time.Millisecond})
	read, err := r.admitPaired(ctx, "k", pairRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	write, err := r.AdmitWrite(ctx, "k")
	if err != nil {
		t.Fatalf("write of the read's pair not admitted on its slot: %v", err)
	}
	if _, err := r.AdmitWrite(ctx, "k"); !errors.As(err, new(*BusyError)) {
		t.Errorf("second write of one pair = %v, want BusyError", err)
	}
	if _, err := r.admitPaired(ctx, "k", pairRead, 0); !errors.As(err, new(*BusyError)) {
		t.Errorf("second read of one pair = %v, want BusyError", err)
	}
	if _, err := r.AdmitWrite(ctx, "other"); !errors.As(err, new(*BusyError)) {
		t.Errorf("write of another pair = %v, want BusyError", err)
	}
	read.Release()
	if r.InUse() != 1 {
		t.Errorf("slot freed while the write still runs (in use %d)", r.InUse())
	}
	write.Release()
	if r.InUse() != 0 {
		t.Errorf("slot held after both halves ended (in use %d)", r.InUse())
	}
	if _, ok := r.pairs["k"]; ok {
		t.Error("pair left registered after both halves ended")
	}
}

// Both halves waiting for a full worker: when a slot frees, one takes it
// and the other joins it instead of waiting for a second slot (with one
// slot it would otherwise time out).
func TestPairedAdmissionWaitersJoin(t *testing.T) {
	ctx := context.Background()
	r := New(staticResolver{}, Config{MaxStreams: 1, QueueTimeout: 5 * time.Second})
	other, err := r.AdmitWrite(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	adms := make([]*Admission, 2)
	for i, role := range []pairRole{pairRead, pairWrite} {
		wg.Add(1)
		go func() { defer wg.Done(); adms[i], errs[i] = r.admitPaired(ctx, "b", role, 0) }()
	}
	time.Sleep(50 * time.Millisecond) // both wait for the slot
	other.Release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("half %d: %v", i, err)
		}
	}
	if r.InUse() != 1 {
		t.Errorf("in use %d, want the one slot both halves share", r.InUse())
	}
	adms[0].Release()
	adms[1].Release()
	if r.InUse() != 0 {
		t.Errorf("in use %d after both released", r.InUse())
	}
}
