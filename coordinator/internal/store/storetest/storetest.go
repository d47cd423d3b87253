// Package storetest is the conformance suite every store.Store
// implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// Opener returns a new, empty store for one subtest; it registers its own
// cleanup with t.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite, calling open once per subtest.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CreateAndGetRun", testCreateAndGet},
		{"CreateRunDefaults", testCreateDefaults},
		{"Idempotency", testIdempotency},
		{"IdempotencyRace", testIdempotencyRace},
		{"UpdateRun", testUpdateRun},
		{"RequestCancel", testRequestCancel},
		{"ListRunsPaging", testListPaging},
		{"ListRunsFilters", testListFilters},
		{"ListUnfinished", testListUnfinished},
		{"Lease", testLease},
		{"LeaseRace", testLeaseRace},
		{"LeaseList", testLeaseList},
		{"Attempts", testAttempts},
		{"StreamResults", testStreamResults},
		{"CursorRoundTrip", testCursorRoundTrip},
		{"Cursors", testCursors},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CloseIdempotent", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// base is a fixed instant with microsecond precision, in UTC.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

var cmpOpts = []cmp.Option{
	cmpopts.IgnoreFields(store.Run{}, "UpdatedAt"),
	cmpopts.IgnoreFields(store.Cursor{}, "UpdatedAt"),
	cmpopts.EquateEmpty(),
	cmpopts.EquateNaNs(),
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, s store.Store, r store.Run) store.Run {
	t.Helper()
	got, existed, err := s.CreateRun(ctxT(t), r)
	if err != nil || existed {
		t.Fatalf("CreateRun(%q) = existed %v, err %v", r.ID, existed, err)
	}
	return got
}

func fullRun() store.Run {
	return store.Run{
		ID: "run-full", Pipeline: "pg_to_pg", State: store.StateRunning, IdempotencyKey: "key-1",
		PipelineYAML: "version: \"1.0\"\npipeline: pg_to_pg\nsource:\n  config: {password: ${PG_PASSWORD}}\n",
		CreatedAt:    base, StartedAt: base.Add(time.Second), Owner: "coord-a",
		RecordsRead: 1_000_000, RecordsWritten: 999_990, RecordsFailed: 9, BytesRead: 174 << 20, BytesWritten: 170 << 20,
		DurationSecs: 1.25, Attempts: 2,
		Timings: store.Timings{SourceModuleLoadMs: 300.5, PlanSecs: 0.01, RetryWaitSecs: 1},
		Error: &runerr.ConnectorError{
			Category: runerr.CategoryTransientDB, Code: "COMMIT_FAILED", Message: "server closed the connection",
			Retryable: true, SafeToRetry: false, CommitState: runerr.CommitAfterUnknown, RetryAfterMs: 5,
			Scope: runerr.ScopeStream, BackoffClass: runerr.ClassSlow, Connector: "dest-postgres", Hint: "check the server",
		},
		ResumeData:    []byte{0, 1, 2, 0xff, 'x'},
		ResumeBlocker: "submitted with --var values and no state key",
	}
}

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	want := fullRun()
	created := mustCreate(t, s, want)
	if diff := cmp.Diff(want, created, cmpOpts...); diff != "" {
		t.Errorf("CreateRun returned (-want +got):\n%s", diff)
	}
	got, err := s.GetRun(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("GetRun (-want +got):\n%s", diff)
	}
	if got.RetryCount() != 1 {
		t.Errorf("RetryCount = %d, want 1", got.RetryCount())
	}
	if got.UpdatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt %v, CreatedAt location %v", got.UpdatedAt, got.CreatedAt.Location())
	}
	if _, err := s.GetRun(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun(missing) = %v, want ErrNotFound", err)
	}
}

func testCreateDefaults(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Second)
	r := mustCreate(t, s, store.Run{Pipeline: "p", PipelineYAML: "y"})
	if r.ID == "" || r.State != store.StatePending || r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("defaults not applied: %+v", r)
	}
	if !r.StartedAt.IsZero() || !r.FinishedAt.IsZero() || r.Error != nil || r.RetryCount() != 0 {
		t.Errorf("unset fields not zero: %+v", r)
	}
	other := mustCreate(t, s, store.Run{Pipeline: "p", PipelineYAML: "y"})
	if other.ID == r.ID {
		t.Errorf("two runs got the same generated id %q", r.ID)
	}
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	first := mustCreate(t, s, store.Run{ID: "a", Pipeline: "p", PipelineYAML: "yaml-1", IdempotencyKey: "k", CreatedAt: base})

	tests := []struct {
		name        string
		run         store.Run
		wantID      string
		wantExisted bool
		wantErr     error
	}{
		{"same key and pipeline returns existing", store.Run{ID: "b", Pipeline: "p", PipelineYAML: "yaml-1", IdempotencyKey: "k"}, "a", true, nil},
		{"same key without id returns existing", store.Run{Pipeline: "p", PipelineYAML: "yaml-1", IdempotencyKey: "k"}, "a", true, nil},
		{"same key other pipeline conflicts", store.Run{ID: "c", Pipeline: "p", PipelineYAML: "yaml-2", IdempotencyKey: "k"}, "a", true, store.ErrConflict},
		{"duplicate id conflicts", store.Run{ID: "a", Pipeline: "p", PipelineYAML: "yaml-1", IdempotencyKey: "other"}, "", false, store.ErrConflict},
		{"duplicate id without key conflicts", store.Run{ID: "a", Pipeline: "p", PipelineYAML: "yaml-1"}, "", false, store.ErrConflict},
		{"new key creates", store.Run{ID: "d", Pipeline: "p", PipelineYAML: "yaml-1", IdempotencyKey: "k2"}, "d", false, nil},
		{"empty key never collides", store.Run{ID: "e", Pipeline: "p", PipelineYAML: "yaml-1"}, "e", false, nil},
		{"empty key never collides again", store.Run{ID: "f", Pipeline: "p", PipelineYAML: "yaml-1"}, "f", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, existed, err := s.CreateRun(ctx, tt.run)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("CreateRun err = %v, want %v", err, tt.wantErr)
			}
			if existed != tt.wantExisted || got.ID != tt.wantID {
				t.Errorf("CreateRun = (%q, existed %v), want (%q, %v)", got.ID, existed, tt.wantID, tt.wantExisted)
			}
		})
	}
	got, err := s.GetRun(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got, cmpOpts...); diff != "" {
		t.Errorf("original run changed (-want +got):\n%s", diff)
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.GetRun(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("run %q was created: %v", id, err)
		}
	}
}

func testIdempotencyRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 8
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, existed, err := s.CreateRun(ctx, store.Run{Pipeline: "p", PipelineYAML: "y", IdempotencyKey: "race"})
			ids[i], created[i], errs[i] = r.ID, !existed, err
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CreateRun %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("CreateRun %d returned run %q, others %q", i, ids[i], ids[0])
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d callers created the run, want exactly 1", winners)
	}
	runs, _, err := s.ListRuns(ctx, store.ListFilter{})
	if err != nil || len(runs) != 1 {
		t.Errorf("ListRuns = %d runs, %v; want 1", len(runs), err)
	}
}

func testUpdateRun(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	orig := mustCreate(t, s, store.Run{ID: "r", Pipeline: "p", PipelineYAML: "y", IdempotencyKey: "k", CreatedAt: base, Follow: true})
	if !orig.Follow {
		t.Errorf("CreateRun lost Follow")
	}

	upd := orig
	upd.State = store.StateFailed
	upd.StartedAt, upd.FinishedAt = base.Add(time.Second), base.Add(time.Minute)
	upd.Owner = "coord-b"
	upd.RecordsRead, upd.RecordsWritten, upd.BytesRead, upd.BytesWritten, upd.RecordsFailed = 10, 9, math.MaxInt64, 7, 1
	upd.DurationSecs, upd.Attempts = 59, 4
	upd.Timings = store.Timings{DestDurationSecs: 3}
	upd.Error = runerr.New(runerr.CategoryAuth, "AUTH_FAILED", "password authentication failed for user %q", "app")
	// Immutable fields are ignored by UpdateRun.
	tampered := upd
	tampered.Pipeline, tampered.PipelineYAML, tampered.IdempotencyKey = "other", "other", "other"
	tampered.CreatedAt, tampered.CancelRequested, tampered.Follow = base.Add(time.Hour), true, false
	if err := s.UpdateRun(ctx, tampered); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(upd, got, cmpOpts...); diff != "" {
		t.Errorf("after UpdateRun (-want +got):\n%s", diff)
	}
	// Clearing fields works too.
	upd.Error, upd.FinishedAt, upd.State = nil, time.Time{}, store.StateRunning
	if err := s.UpdateRun(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.GetRun(ctx, "r"); got.Error != nil || !got.FinishedAt.IsZero() {
		t.Errorf("fields not cleared: %+v", got)
	}
	if err := s.UpdateRun(ctx, store.Run{ID: "missing", State: store.StateFailed}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRun(missing) = %v, want ErrNotFound", err)
	}
}

func testRequestCancel(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r := mustCreate(t, s, store.Run{ID: "r", Pipeline: "p", PipelineYAML: "y", State: store.StateRunning})
	got, accepted, err := s.RequestCancel(ctx, "r")
	if err != nil || !accepted || !got.CancelRequested {
		t.Fatalf("RequestCancel = %+v, %v, %v", got, accepted, err)
	}
	// A concurrent UpdateRun with a stale copy must not clear the flag.
	r.RecordsRead = 5
	if err := s.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.GetRun(ctx, "r"); !got.CancelRequested || got.RecordsRead != 5 {
		t.Errorf("after stale UpdateRun: cancel %v records %d", got.CancelRequested, got.RecordsRead)
	}
	// Finished runs refuse.
	mustCreate(t, s, store.Run{ID: "done", Pipeline: "p", PipelineYAML: "y", State: store.StateSucceeded})
	got, accepted, err = s.RequestCancel(ctx, "done")
	if err != nil || accepted || got.CancelRequested || got.State != store.StateSucceeded {
		t.Errorf("RequestCancel(final) = %+v, accepted %v, %v", got, accepted, err)
	}
	if _, _, err := s.RequestCancel(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestCancel(missing) = %v, want ErrNotFound", err)
	}
}

// seed creates n runs; run i is created i seconds after base, so newer runs
// have higher i. Runs 0 and 1 share a timestamp to exercise the id tie-break.
func seed(t *testing.T, s store.Store, n int) []store.Run {
	var out []store.Run
	for i := range n {
		created := base.Add(time.Duration(i) * time.Second)
		if i == 1 {
			created = base
		}
		pl := "alpha"
		if i%3 == 0 {
			pl = "beta"
		}
		st := []store.RunState{store.StatePending, store.StateRunning, store.StateSucceeded, store.StateFailed, store.StateCancelled}[i%5]
		out = append(out, mustCreate(t, s, store.Run{
			ID: fmt.Sprintf("run-%03d", i), Pipeline: pl, State: st, PipelineYAML: "y", CreatedAt: created,
		}))
	}
	return out
}

func ids(runs []store.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// newestFirst sorts like ListRuns: created_at desc, id desc.
func newestFirst(runs []store.Run) []string {
	rs := append([]store.Run(nil), runs...)
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].CreatedAt.Equal(rs[j].CreatedAt) {
			return rs[i].CreatedAt.After(rs[j].CreatedAt)
		}
		return rs[i].ID > rs[j].ID
	})
	return ids(rs)
}

func listAll(t *testing.T, s store.Store, f store.ListFilter) (all []string, pages int) {
	t.Helper()
	for {
		runs, next, err := s.ListRuns(ctxT(t), f)
		if err != nil {
			t.Fatalf("ListRuns(%+v): %v", f, err)
		}
		pages++
		all = append(all, ids(runs)...)
		if next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("ListRuns does not terminate")
		}
		f.PageToken = next
	}
}

func testListPaging(t *testing.T, s store.Store) {
	runs := seed(t, s, 25)
	want := newestFirst(runs)
	tests := []struct {
		name      string
		size      int
		wantPages int
	}{
		{"page of 10", 10, 3},
		{"page of 1", 1, 25},
		{"exact fit", 25, 1},
		{"default 20", 0, 2},
		{"oversized is capped", 1000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := listAll(t, s, store.ListFilter{PageSize: tt.size})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}
	t.Run("first page is newest", func(t *testing.T) {
		page, next, err := s.ListRuns(ctxT(t), store.ListFilter{PageSize: 2})
		if err != nil || next == "" || len(page) != 2 || page[0].ID != "run-024" {
			t.Errorf("ListRuns = %v, %q, %v", ids(page), next, err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		for _, tok := range []string{"!!!", "djE6eA", "eDp5Onk"} {
			if _, _, err := s.ListRuns(ctxT(t), store.ListFilter{PageToken: tok}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("token %q: err = %v, want ErrInvalid", tok, err)
			}
		}
	})
}

func testListFilters(t *testing.T, s store.Store) {
	runs := seed(t, s, 25)
	filter := func(keep func(store.Run) bool) []string {
		var out []store.Run
		for _, r := range runs {
			if keep(r) {
				out = append(out, r)
			}
		}
		return newestFirst(out)
	}
	tests := []struct {
		name string
		f    store.ListFilter
		want []string
	}{
		{"pipeline", store.ListFilter{Pipeline: "beta"}, filter(func(r store.Run) bool { return r.Pipeline == "beta" })},
		{"one state", store.ListFilter{States: []store.RunState{store.StateFailed}}, filter(func(r store.Run) bool { return r.State == store.StateFailed })},
		{"two states", store.ListFilter{States: []store.RunState{store.StatePending, store.StateRunning}}, filter(func(r store.Run) bool { return !r.State.Final() })},
		{"pipeline and state paged", store.ListFilter{Pipeline: "alpha", States: []store.RunState{store.StateSucceeded, store.StateCancelled}, PageSize: 2},
			filter(func(r store.Run) bool {
				return r.Pipeline == "alpha" && (r.State == store.StateSucceeded || r.State == store.StateCancelled)
			})},
		{"no match", store.ListFilter{Pipeline: "gamma"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 && tt.f.Pipeline != "gamma" {
				t.Fatal("filter selects nothing; fix the seed")
			}
			got, _ := listAll(t, s, tt.f)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func testListUnfinished(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	runs := seed(t, s, 12)
	var want []string
	for _, r := range runs {
		if r.State == store.StatePending || r.State == store.StateRunning {
			want = append(want, r.ID)
		}
	}
	got, err := s.ListUnfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first: the reverse of the ListRuns order.
	wantOrder := newestFirst(pick(runs, want))
	for i, j := 0, len(wantOrder)-1; i < j; i, j = i+1, j-1 {
		wantOrder[i], wantOrder[j] = wantOrder[j], wantOrder[i]
	}
	if diff := cmp.Diff(wantOrder, ids(got)); diff != "" {
		t.Errorf("ListUnfinished (-want +got):\n%s", diff)
	}
	// Finishing a run removes it.
	r := got[0]
	r.State, r.FinishedAt = store.StateFailed, base.Add(time.Hour)
	if err := s.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	again, err := s.ListUnfinished(ctx)
	if err != nil || len(again) != len(got)-1 {
		t.Errorf("after finishing one: %d runs, %v; want %d", len(again), err, len(got)-1)
	}
}

func pick(runs []store.Run, keep []string) []store.Run {
	var out []store.Run
	for _, r := range runs {
		for _, k := range keep {
			if r.ID == k {
				out = append(out, r)
			}
		}
	}
	return out
}
