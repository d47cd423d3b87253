package sdktest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// SourceCase is one read the suite runs.
type SourceCase struct {
	// Name names the subtest.
	Name string
	// Config is the connector config.
	Config json.RawMessage
	// Stream is the stream to read.
	Stream abi.StreamSpec
	// Resume is the checkpoint to resume from (optional).
	Resume *abi.Checkpoint
	// WantRows is the exact number of rows expected; -1 skips the check.
	WantRows int64
	// WantErrCategory, when set, expects the read to fail with it (an
	// abi.Category* value); WantRows and Check are then not used.
	WantErrCategory string
	// Check, when set, inspects the result further. It runs only under go
	// test (RunSource), not in a Report.
	Check func(t *testing.T, r *ReadResult)
}

// SourceSuite is the source conformance suite.
type SourceSuite struct {
	// Config is a valid config for Discover and Check.
	Config json.RawMessage
	// BadConfig must fail Check and Discover with a config error.
	BadConfig json.RawMessage
	// Cases are the reads to run.
	Cases []SourceCase
	// Timeout bounds each operation (default 2 minutes).
	Timeout time.Duration
}

// ctx bounds one operation by the suite's timeout.
func ctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return context.WithTimeout(context.Background(), timeout)
}

// runCheck runs a case's Check with the *testing.T behind t; a Report has
// none, so a case with a Check fails there.
func runCheck[R any](t T, name string, check func(*testing.T, R), res R) {
	if check == nil {
		return
	}
	tt, ok := t.(testingT)
	if !ok {
		t.Errorf("case %q has a Check func, which runs only under go test", name)
		return
	}
	check(tt.T, res)
}

// category returns the envelope category of err.
func category(err error) string { return sdk.Classify(err).Envelope.Category }

// RunSource runs the source conformance suite against h under go test (see
// RunSourceT).
func RunSource(t *testing.T, h Harness, s SourceSuite) {
	t.Helper()
	RunSourceT(Testing(t), h, s)
}

// RunSourceT runs the source conformance suite against h: Discover returns
// streams whose column types all parse; Check passes with Config; a bad
// config fails with a config error; every read emits its schema once,
// before any batch, batches that validate against that schema, the
// expected row count, and checkpoints whose records never decrease and
// whose integer or timestamp cursors never go back, or the expected error
// category; and, for a NativeHarness, close follows every open.
func RunSourceT(t T, h Harness, s SourceSuite) {
	t.Helper()
	t.Run("discover", func(t T) {
		ctx, cancel := ctx(s.Timeout)
		defer cancel()
		cat, err := h.Discover(ctx, s.Config)
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		if len(cat.Streams) == 0 {
			t.Fatalf("discover returned no streams")
		}
		seen := map[string]bool{}
		for _, st := range cat.Streams {
			key := st.Namespace + "." + st.Name
			if st.Name == "" || seen[key] {
				t.Errorf("stream name %q empty or duplicated", key)
			}
			seen[key] = true
			if len(st.SupportedSyncModes) == 0 {
				t.Errorf("stream %q lists no sync modes", key)
			}
			for _, c := range st.Columns {
				if _, err := abi.ParseType(c.ArrowType); err != nil {
					t.Errorf("stream %q column %q: %v", key, c.Name, err)
				}
			}
		}
	})
	t.Run("check", func(t T) {
		ctx, cancel := ctx(s.Timeout)
		defer cancel()
		if err := h.Check(ctx, s.Config); err != nil {
			t.Fatalf("check: %v", err)
		}
	})
	if s.BadConfig != nil {
		t.Run("bad config is a config error", func(t T) {
			ctx, cancel := ctx(s.Timeout)
			defer cancel()
			if err := h.Check(ctx, s.BadConfig); category(err) != abi.CategoryConfig {
				t.Errorf("check with a bad config: %v (category %q)", err, category(err))
			}
			if _, err := h.Discover(ctx, s.BadConfig); category(err) != abi.CategoryConfig {
				t.Errorf("discover with a bad config: %v", err)
			}
		})
	}
	for _, c := range s.Cases {
		t.Run("read "+c.Name, func(t T) {
			ctx, cancel := ctx(s.Timeout)
			defer cancel()
			res, err := h.Read(ctx, ReadRequest{Config: c.Config, Stream: c.Stream, Resume: c.Resume})
			if c.WantErrCategory != "" {
				if category(err) != c.WantErrCategory {
					t.Fatalf("read: %v, want category %s", err, c.WantErrCategory)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			CheckReadResult(t, res)
			if c.WantRows >= 0 && res.Rows() != c.WantRows {
				t.Errorf("read %d rows, want %d", res.Rows(), c.WantRows)
			}
			runCheck(t, c.Name, c.Check, res)
		})
	}
	if nh, ok := h.(*NativeHarness); ok {
		t.Run("lifecycle", func(t T) { CheckLifecycle(t, nh.Calls()) })
	}
}

// CheckReadResult checks the invariants of one read's output.
func CheckReadResult(t Reporter, res *ReadResult) {
	t.Helper()
	var schema *batch.Schema
	var last *abi.Checkpoint
	view := (*batch.View)(nil)
	for i, e := range res.Events {
		switch e.Kind {
		case EventSchema:
			if schema != nil {
				t.Fatalf("event %d: schema emitted twice", i)
			}
			s, err := batch.NewSchema(e.Schema)
			if err != nil {
				t.Fatalf("event %d: invalid schema: %v", i, err)
			}
			schema, view = s, batch.NewView(s)
		case EventBatch:
			if schema == nil {
				t.Fatalf("event %d: batch before the schema", i)
			}
			if err := view.Parse(e.Frame); err != nil {
				t.Fatalf("event %d: invalid batch: %v", i, err)
			}
			if view.Rows() != e.Rows || e.Rows == 0 {
				t.Errorf("event %d: batch of %d rows (frame %d)", i, e.Rows, view.Rows())
			}
		case EventCheckpoint:
			if last != nil {
				checkMonotonic(t, i, last, e.Checkpoint)
			}
			last = e.Checkpoint
		}
	}
}

func checkMonotonic(t Reporter, i int, prev, cur *abi.Checkpoint) {
	t.Helper()
	if cur.Records != 0 && cur.Records < prev.Records {
		t.Errorf("event %d: checkpoint records went back from %d to %d", i, prev.Records, cur.Records)
	}
	p, c := prev.CursorValue, cur.CursorValue
	if p == nil || c == nil {
		return
	}
	switch {
	case p.Int != nil && c.Int != nil && *c.Int < *p.Int,
		p.TimestampMicros != nil && c.TimestampMicros != nil && *c.TimestampMicros < *p.TimestampMicros,
		p.DateDays != nil && c.DateDays != nil && *c.DateDays < *p.DateDays,
		p.String != nil && c.String != nil && *c.String < *p.String:
		t.Errorf("event %d: checkpoint cursor went back", i)
	}
}

// CheckLifecycle checks that calls (export names in order) pair every
// rb_open with a later rb_close, with at most one operation in between.
func CheckLifecycle(t Reporter, calls []string) {
	t.Helper()
	open := false
	ops := 0
	for i, c := range calls {
		switch c {
		case abi.ExportOpen:
			if open {
				t.Fatalf("call %d: rb_open before rb_close of the previous instance: %v", i, calls)
			}
			open, ops = true, 0
		case abi.ExportClose:
			if !open {
				t.Fatalf("call %d: rb_close without rb_open: %v", i, calls)
			}
			open = false
		default:
			ops++
			if !open || ops > 1 {
				t.Fatalf("call %d: %s outside open/close or twice: %v", i, c, calls)
			}
		}
	}
	if open {
		t.Fatalf("last instance never closed: %v", calls)
	}
}

// DestinationCase is one write the suite runs.
type DestinationCase struct {
	// Name names the subtest.
	Name string
	// Write is the write to run.
	Write WriteRequest
	// WantErrCategory, when set, expects the write to fail with it.
	WantErrCategory string
	// Check, when set, inspects the result further. It runs only under go
	// test (RunDestination), not in a Report.
	Check func(t *testing.T, r *WriteResult)
}

// DestinationSuite is the destination conformance suite.
type DestinationSuite struct {
	// Config is a valid config for Check.
	Config json.RawMessage
	// BadConfig must fail Check with a config error.
	BadConfig json.RawMessage
	// Cases are the writes to run.
	Cases []DestinationCase
	// Timeout bounds each operation (default 2 minutes).
	Timeout time.Duration
}

// RunDestination runs the destination conformance suite against h under go
// test (see RunDestinationT).
func RunDestination(t *testing.T, h Harness, s DestinationSuite) {
	t.Helper()
	RunDestinationT(Testing(t), h, s)
}

// RunDestinationT runs the destination conformance suite against h: Check
// passes with Config and fails with a config error for BadConfig; each
// successful write pulls every batch, commits at least once, and its last
// commit covers every batch (so the host acknowledges the last
// checkpoint); and, for a NativeHarness, close follows every open.
func RunDestinationT(t T, h Harness, s DestinationSuite) {
	t.Helper()
	t.Run("check", func(t T) {
		ctx, cancel := ctx(s.Timeout)
		defer cancel()
		if err := h.Check(ctx, s.Config); err != nil {
			t.Fatalf("check: %v", err)
		}
	})
	if s.BadConfig != nil {
		t.Run("bad config is a config error", func(t T) {
			ctx, cancel := ctx(s.Timeout)
			defer cancel()
			if err := h.Check(ctx, s.BadConfig); category(err) != abi.CategoryConfig {
				t.Errorf("check with a bad config: %v", err)
			}
		})
	}
	for _, c := range s.Cases {
		t.Run("write "+c.Name, func(t T) {
			ctx, cancel := ctx(s.Timeout)
			defer cancel()
			res, err := h.Write(ctx, c.Write)
			if c.WantErrCategory != "" {
				if category(err) != c.WantErrCategory {
					t.Fatalf("write: %v, want category %s", err, c.WantErrCategory)
				}
				return
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			n := len(c.Write.Batches)
			if res.Delivered != n {
				t.Errorf("destination pulled %d of %d batches", res.Delivered, n)
			}
			if len(res.Commits) == 0 {
				t.Fatalf("destination never committed")
			}
			lastCommit := res.Commits[len(res.Commits)-1]
			if lastCommit.Batches != n {
				t.Errorf("last commit covers %d of %d batches", lastCommit.Batches, n)
			}
			var wantCP *abi.Checkpoint
			for _, b := range c.Write.Batches {
				if b.Checkpoint != nil {
					wantCP = b.Checkpoint
				}
			}
			if wantCP != nil && (lastCommit.Checkpoint == nil || lastCommit.Checkpoint.ID != wantCP.ID) {
				t.Errorf("last commit acknowledges %+v, want %+v", lastCommit.Checkpoint, wantCP)
			}
			for i := 1; i < len(res.Commits); i++ {
				if res.Commits[i].Batches < res.Commits[i-1].Batches {
					t.Errorf("commit %d covers fewer batches than commit %d", i, i-1)
				}
			}
			runCheck(t, c.Name, c.Check, res)
		})
	}
	if nh, ok := h.(*NativeHarness); ok {
		t.Run("lifecycle", func(t T) { CheckLifecycle(t, nh.Calls()) })
	}
}
