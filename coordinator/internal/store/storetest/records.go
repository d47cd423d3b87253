package storetest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

func testAttempts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mustCreate(t, s, store.Run{ID: "r", Pipeline: "p", PipelineYAML: "y"})
	lost := runerr.LostWorker("w1:7071", errors.New("EOF"))
	a1 := store.Attempt{RunID: "r", Number: 1, StartedAt: base, Streams: []string{"users", "orders"}}
	a2 := store.Attempt{RunID: "r", Number: 2, StartedAt: base.Add(2 * time.Second), Streams: []string{"orders"}}
	for _, a := range []store.Attempt{a2, a1} { // out of order on purpose
		if err := s.AddAttempt(ctx, a); err != nil {
			t.Fatalf("AddAttempt(%d): %v", a.Number, err)
		}
	}
	if err := s.FinishAttempt(ctx, "r", 1, base.Add(time.Second), lost); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAttempt(ctx, "r", 2, base.Add(3*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAttempts(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	a1.FinishedAt, a1.Error = base.Add(time.Second), lost
	a2.FinishedAt = base.Add(3 * time.Second)
	if diff := cmp.Diff([]store.Attempt{a1, a2}, got, cmpOpts...); diff != "" {
		t.Errorf("ListAttempts (-want +got):\n%s", diff)
	}

	errCases := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate attempt", s.AddAttempt(ctx, store.Attempt{RunID: "r", Number: 1, StartedAt: base}), store.ErrConflict},
		{"attempt of unknown run", s.AddAttempt(ctx, store.Attempt{RunID: "nope", Number: 1, StartedAt: base}), store.ErrNotFound},
		{"finish unknown attempt", s.FinishAttempt(ctx, "r", 9, base, nil), store.ErrNotFound},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if empty, err := s.ListAttempts(ctx, "nope"); err != nil || len(empty) != 0 {
		t.Errorf("ListAttempts(unknown) = %v, %v", empty, err)
	}
}

func testStreamResults(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mustCreate(t, s, store.Run{ID: "r", Pipeline: "p", PipelineYAML: "y"})
	cp := &store.Checkpoint{ID: 7, Stream: "users", Partition: 1, CursorField: "updated_at",
		CursorValue: store.TimestampCursor(base), TieBreakerField: "id", TieBreakerValue: store.IntCursor(42),
		Records: 1000, Bytes: 64 << 20}
	results := []store.StreamResult{
		{RunID: "r", Stream: "users", Partition: 1, State: store.StateRunning, RecordsRead: 5},
		{RunID: "r", Stream: "orders", Partition: 0, State: store.StateSucceeded, RecordsRead: 10, RecordsWritten: 10,
			BytesRead: 100, BytesWritten: 90, Attempts: 2, DurationSecs: 0.5, SourceWorker: "w1", DestWorker: "w2"},
		{RunID: "r", Stream: "users", Partition: 0, State: store.StateFailed, Attempts: 1,
			Error: runerr.New(runerr.CategoryData, "BAD_VALUE", "column %q", "x")},
	}
	for _, r := range results {
		if err := s.PutStreamResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Replace users[1] with its final result.
	final := store.StreamResult{RunID: "r", Stream: "users", Partition: 1, State: store.StateSucceeded,
		RecordsRead: 1000, RecordsWritten: 997, RecordsFailed: 3, Attempts: 1, Checkpoint: cp, SourceWorker: "w3"}
	if err := s.PutStreamResult(ctx, final); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListStreamResults(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StreamResult{results[1], results[2], final}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("ListStreamResults (-want +got):\n%s", diff)
	}
	err = s.PutStreamResult(ctx, store.StreamResult{RunID: "nope", Stream: "x", State: store.StateRunning})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutStreamResult(unknown run) = %v, want ErrNotFound", err)
	}
}

func testCursorRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	values := []struct {
		name string
		v    store.CursorValue
	}{
		{"none", store.CursorValue{}},
		{"int", store.IntCursor(-42)},
		{"int max", store.IntCursor(math.MaxInt64)},
		{"int min", store.IntCursor(math.MinInt64)},
		{"double", store.DoubleCursor(3.141592653589793)},
		{"double tiny", store.DoubleCursor(5e-324)},
		{"double NaN", store.DoubleCursor(math.NaN())},
		{"double -Inf", store.DoubleCursor(math.Inf(-1))},
		{"string", store.StringCursor("héllo \"wörld\"\n\x00")},
		{"empty string", store.StringCursor("")},
		{"uuid", store.StringCursor("6ba7b810-9dad-11d1-80b4-00c04fd430c8")},
		{"timestamp", store.TimestampCursor(time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC))},
		{"timestamp before epoch", store.TimestampCursor(time.Date(1901, 1, 1, 0, 0, 0, 1000, time.UTC))},
		{"date", store.DateCursor(19782)},
		{"date negative", store.DateCursor(math.MinInt32)},
		{"decimal", store.DecimalCursor("-12345678901234567890.000000000001")},
	}
	for i, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			want := store.Checkpoint{ID: uint64(i + 1), Stream: "s", Partition: uint32(i), CursorField: "c",
				CursorValue: tt.v, TieBreakerField: "id", TieBreakerValue: tt.v, Records: math.MaxUint64 / 2, Bytes: 1}
			if err := s.PutCursor(ctx, "p", "run-1", want); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCursor(ctx, "p", "s", uint32(i))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func testCursors(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.GetCursor(ctx, "p", "users", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCursor(missing) = %v, want ErrNotFound", err)
	}
	put := func(pl, stream string, part uint32, v int64) store.Checkpoint {
		cp := store.Checkpoint{Stream: stream, Partition: part, CursorField: "id", CursorValue: store.IntCursor(v)}
		if err := s.PutCursor(ctx, pl, "run-"+pl, cp); err != nil {
			t.Fatal(err)
		}
		return cp
	}
	put("p", "users", 0, 1)
	u0 := put("p", "users", 0, 2) // overwrite
	u1 := put("p", "users", 1, 3)
	o0 := put("p", "orders", 0, 4)
	put("q", "users", 0, 5) // other pipeline

	got, err := s.GetCursor(ctx, "p", "users", 0)
	if err != nil || got.CursorValue != store.IntCursor(2) {
		t.Errorf("GetCursor after overwrite = %+v, %v", got, err)
	}
	list, err := s.ListCursors(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Cursor{{Pipeline: "p", Checkpoint: o0, RunID: "run-p"}, {Pipeline: "p", Checkpoint: u0, RunID: "run-p"}, {Pipeline: "p", Checkpoint: u1, RunID: "run-p"}}
	if diff := cmp.Diff(want, list, cmpOpts...); diff != "" {
		t.Errorf("ListCursors (-want +got):\n%s", diff)
	}
	if err := s.DeleteCursors(ctx, "p", "users"); err != nil {
		t.Fatal(err)
	}
	if list, _ = s.ListCursors(ctx, "p"); len(list) != 1 || list[0].Checkpoint.Stream != "orders" {
		t.Errorf("after deleting users: %+v", list)
	}
	if err := s.DeleteCursors(ctx, "p", ""); err != nil {
		t.Fatal(err)
	}
	if list, _ = s.ListCursors(ctx, "p"); len(list) != 0 {
		t.Errorf("after deleting all: %+v", list)
	}
	if _, err := s.GetCursor(ctx, "q", "users", 0); err != nil {
		t.Errorf("other pipeline's cursor lost: %v", err)
	}
}

// testConcurrentUpdates hammers one store from many goroutines, as the run
// engine does with parallel streams: no write may fail or be lost.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const runs, workers, rounds = 4, 8, 10
	for i := range runs {
		mustCreate(t, s, store.Run{ID: fmt.Sprintf("r%d", i), Pipeline: "p", PipelineYAML: "y", State: store.StateRunning})
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runID := fmt.Sprintf("r%d", w%runs)
			stream := fmt.Sprintf("s%d", w)
			for i := range rounds {
				r, err := s.GetRun(ctx, runID)
				if err != nil {
					errs <- err
					return
				}
				r.RecordsRead = uint64(i)
				if err := s.UpdateRun(ctx, r); err != nil {
					errs <- err
				}
				if err := s.PutStreamResult(ctx, store.StreamResult{RunID: runID, Stream: stream, State: store.StateRunning, RecordsRead: uint64(i)}); err != nil {
					errs <- err
				}
				if err := s.PutCursor(ctx, "p", runID, store.Checkpoint{Stream: stream, CursorValue: store.IntCursor(int64(i))}); err != nil {
					errs <- err
				}
				if i == rounds/2 {
					if _, _, err := s.RequestCancel(ctx, runID); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range runs {
		r, err := s.GetRun(ctx, fmt.Sprintf("r%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !r.CancelRequested || r.RecordsRead != rounds-1 {
			t.Errorf("run %s: cancel %v records %d; want true, %d", r.ID, r.CancelRequested, r.RecordsRead, rounds-1)
		}
	}
	for w := range workers {
		cp, err := s.GetCursor(ctx, "p", fmt.Sprintf("s%d", w), 0)
		if err != nil || cp.CursorValue != store.IntCursor(rounds-1) {
			t.Errorf("cursor s%d = %+v, %v", w, cp, err)
		}
	}
}

func testClose(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
