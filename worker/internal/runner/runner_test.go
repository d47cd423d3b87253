package runner

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest/guesttest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
)

type staticResolver map[string]guest.Module

func (s staticResolver) Resolve(_ context.Context, ref modules.Ref) (guest.Module, error) {
	m, ok := s[ref.ID]
	if !ok {
		return nil, modules.ErrNotFound
	}
	return m, nil
}

type fakeMetrics struct {
	mu            sync.Mutex
	active, peak  int
	rows, bytes   uint64
	lastConnector string
	// slotsTaken, when set, is checked on every gauge change: the gauge
	// must never count more guests than hold a slot (overflows counts it).
	slotsTaken func() int
	overflows  int
}

func (f *fakeMetrics) GuestStarted() {
	f.mu.Lock()
	f.active++
	f.peak = max(f.peak, f.active)
	f.checkSlots()
	f.mu.Unlock()
}
func (f *fakeMetrics) GuestFinished() { f.mu.Lock(); f.checkSlots(); f.active--; f.mu.Unlock() }

func (f *fakeMetrics) checkSlots() {
	if f.slotsTaken != nil && f.active > f.slotsTaken() {
		f.overflows++
	}
}
func (f *fakeMetrics) Processed(c, _ string, rows, bytes uint64) {
	f.mu.Lock()
	f.rows += rows
	f.bytes += bytes
	f.lastConnector = c
	f.mu.Unlock()
}

func TestRoles(t *testing.T) {
	src := &guesttest.Module{
		Man:        guesttest.Manifest("src", "1", abi.RoleSource),
		DiscoverFn: func(context.Context, guest.Invocation) (*abi.Catalog, error) { return &abi.Catalog{}, nil },
		CheckFn: func(context.Context, guest.Invocation) (*abi.CheckResult, error) {
			return &abi.CheckResult{OK: true}, nil
		},
	}
	r := New(staticResolver{"src": src}, Config{MaxStreams: 1})
	ctx := context.Background()
	tests := []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"discover on a source", func() error { _, err := r.Discover(ctx, modules.Ref{ID: "src"}, nil, nil); return err }, nil},
		{"check as source", func() error { _, err := r.Check(ctx, modules.Ref{ID: "src"}, nil, abi.RoleSource, nil); return err }, nil},
		{"check any role", func() error { _, err := r.Check(ctx, modules.Ref{ID: "src"}, nil, "", nil); return err }, nil},
		{"check as destination", func() error {
			_, err := r.Check(ctx, modules.Ref{ID: "src"}, nil, abi.RoleDestination, nil)
			return err
		}, ErrInvalidRequest},
		{"write to a source", func() error {
			_, err := r.Write(ctx, StreamRequest{Ref: modules.Ref{ID: "src"}}, nil, nil)
			return err
		}, ErrInvalidRequest},
		{"unknown module", func() error { _, err := r.Discover(ctx, modules.Ref{ID: "x"}, nil, nil); return err }, modules.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

type loadSink struct{ load time.Duration }

func (s *loadSink) Batch(_ arrow.RecordBatch, _ *abi.Checkpoint) error { return nil }
func (s *loadSink) ModuleLoaded(d time.Duration)                       { s.load = d + 1 }

func TestReadPassesRequest(t *testing.T) {
	var got guest.Invocation
	var deadline time.Time
	src := &guesttest.Module{
		Man: guesttest.Manifest("src", "1", abi.RoleSource),
		ReadFn: func(ctx context.Context, inv guest.Invocation, _ guest.ReadSink) (guest.Stats, error) {
			got = inv
			deadline, _ = ctx.Deadline()
			return guest.Stats{Records: 10, Bytes: 80}, nil
		},
	}
	met := &fakeMetrics{}
	r := New(staticResolver{"src": src}, Config{MaxStreams: 1, RequestTimeout: time.Hour, Metrics: met})
	req := StreamRequest{
		Ref: modules.Ref{ID: "src"}, Config: json.RawMessage(`{"a":1}`), Stream: abi.StreamSpec{Name: "users"},
		Resume: &abi.Checkpoint{ID: 4}, AllowedHosts: []string{"db"}, Timeout: time.Minute, RunID: "r1", Attempt: 2,
	}
	sink := &loadSink{}
	res, err := r.Read(context.Background(), req, sink)
	if err != nil {
		t.Fatal(err)
	}
	want := abi.Request{
		Op: abi.OpRead, ConnectorID: "src", Config: json.RawMessage(`{"a":1}`),
		Stream: &abi.StreamSpec{Name: "users", RunID: "r1", Attempt: 2}, Resume: &abi.Checkpoint{ID: 4},
	}
	if diff := cmp.Diff(want, got.Request); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if got.Timeout != time.Minute || !cmp.Equal(got.AllowedHosts, []string{"db"}) {
		t.Errorf("invocation timeout %v hosts %v", got.Timeout, got.AllowedHosts)
	}
	if d := time.Until(deadline); d <= 0 || d > time.Minute {
		t.Errorf("deadline in %v, want within the request's minute", d)
	}
	if res.Records != 10 || met.rows != 10 || met.bytes != 80 || met.lastConnector != "src" || sink.load == 0 {
		t.Errorf("result %+v metrics %+v load %v", res, met, sink.load)
	}
}

func TestAdmission(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	src := &guesttest.Module{
		Man: guesttest.Manifest("src", "1", abi.RoleSource),
		DiscoverFn: func(ctx context.Context, _ guest.Invocation) (*abi.Catalog, error) {
			started <- struct{}{}
			<-release
			return &abi.Catalog{}, nil
		},
	}
	met := &fakeMetrics{}
	r := New(staticResolver{"src": src}, Config{MaxStreams: 2, QueueTimeout: 50 * time.Millisecond, Metrics: met})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Discover(context.Background(), modules.Ref{ID: "src"}, nil, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	<-started
	<-started
	start := time.Now()
	_, err := r.Discover(context.Background(), modules.Ref{ID: "src"}, nil, nil)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.RetryAfter <= 0 || busy.MaxStreams != 2 {
		t.Fatalf("err = %v, want BusyError", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the queue timeout", waited)
	}
	if r.InUse() != 2 {
		t.Errorf("in use = %d", r.InUse())
	}
	// A queued request gets the slot a finished one frees.
	done := make(chan error, 1)
	r2 := r
	go func() { _, err := r2.Discover(context.Background(), modules.Ref{ID: "src"}, nil, nil); done <- err }()
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-done; err != nil {
		t.Errorf("queued request: %v", err)
	}
	met.mu.Lock()
	defer met.mu.Unlock()
	if met.peak != 2 || met.active != 0 {
		t.Errorf("guest gauge peak %d active %d", met.peak, met.active)
	}
}

// TestGuestGaugeWithinSlots hammers acquire and release: the guest gauge
// never counts a guest that holds no slot, so it never exceeds MaxStreams
// (a release that freed the slot first let the next guest in while the
// gauge still counted the old one: "peak 3" with MaxStreams 2).
func TestGuestGaugeWithinSlots(t *testing.T) {
	met := &fakeMetrics{}
	r := New(staticResolver{}, Config{MaxStreams: 2, QueueTimeout: time.Minute, Metrics: met})
	met.slotsTaken = r.InUse
	const goroutines, rounds = 16, 500
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			for range rounds {
				release, err := r.acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				release()
			}
		}()
	}
	close(begin)
	wg.Wait()
	met.mu.Lock()
	defer met.mu.Unlock()
	if met.overflows > 0 || met.peak > 2 || met.active != 0 {
		t.Errorf("guest gauge above the slots taken %d times, peak %d, active %d; want 0, at most 2, 0", met.overflows, met.peak, met.active)
	}
}

// TestMemoryAdmission: slots are free but the memory budget holds only one
// guest's cap, so a second read fails busy after the queue timeout.
func TestMemoryAdmission(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	src := &guesttest.Module{
		Man: guesttest.Manifest("src", "1", abi.RoleSource),
		ReadFn: func(context.Context, guest.Invocation, guest.ReadSink) (guest.Stats, error) {
			started <- struct{}{}
			<-release
			return guest.Stats{}, nil
		},
	}
	r := New(staticResolver{"src": src}, Config{
		MaxStreams: 8, QueueTimeout: 30 * time.Millisecond,
		Memory: NewMemoryBudget(96 << 20), GuestMemory: 64 << 20,
	})
	first := make(chan error, 1)
	go func() {
		_, err := r.Read(context.Background(), StreamRequest{Ref: modules.Ref{ID: "src"}}, nil)
		first <- err
	}()
	<-started
	_, err := r.Read(context.Background(), StreamRequest{Ref: modules.Ref{ID: "src"}}, nil)
	var busy *BusyError
	var mem *MemoryBusyError
	if !errors.As(err, &mem) || !errors.As(err, &busy) || busy.RetryAfter <= 0 {
		t.Fatalf("err = %v, want MemoryBusyError that is a BusyError", err)
	}
	// A stream asking for a smaller cap fits beside the first.
	small := StreamRequest{Ref: modules.Ref{ID: "src"}, Stream: abi.StreamSpec{Limits: abi.Limits{MaxMemoryBytes: 16 << 20}}}
	second := make(chan error, 1)
	go func() { _, err := r.Read(context.Background(), small, nil); second <- err }()
	<-started
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
