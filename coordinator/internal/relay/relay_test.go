package relay

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/retry"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/workerpool"
)

func TestMessageType(t *testing.T) {
	msgs := cannedMessages(t, 2, 4, 0)
	want := []byte{headerSchema, headerRecordBatch, headerRecordBatch}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if got := messageType(m.DataHeader); got != want[i] {
			t.Errorf("message %d: type %d, want %d", i, got, want[i])
		}
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 12), bytes.Repeat([]byte{0x7f}, 40)} {
		_ = messageType(bad) // must not panic
	}
}

func TestRelayPassesBodiesThroughAndTracksAcks(t *testing.T) {
	msgs := cannedMessages(t, 5, 100, 0)
	w := startFake(t, &fakeWorker{getMsgs: msgs})
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()

	var mu sync.Mutex
	var ckpts []uint64
	res, err := p.relayTickets(testCtx(t), read, write, 2, nil, nil, func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		if pr.Checkpoint != nil && (len(ckpts) == 0 || ckpts[len(ckpts)-1] != pr.Checkpoint.ID) {
			ckpts = append(ckpts, pr.Checkpoint.ID)
		}
	})
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	w.mu.Lock()
	got := w.received
	wt := w.writeTick
	w.mu.Unlock()
	if len(got) != len(msgs) {
		t.Fatalf("destination got %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(got[i].DataHeader, msgs[i].DataHeader) || !bytes.Equal(got[i].DataBody, msgs[i].DataBody) ||
			!bytes.Equal(got[i].AppMetadata, msgs[i].AppMetadata) {
			t.Errorf("message %d differs after the relay", i)
		}
		if (got[i].FlightDescriptor != nil) != (i == 0) {
			t.Errorf("message %d: descriptor set = %v", i, got[i].FlightDescriptor != nil)
		}
	}
	if wt.GetRunId() != "r1" || wt.GetConnector().GetId() != "dst" {
		t.Errorf("write ticket = %v", wt)
	}
	if res.RecordsRead != 500 || res.BytesRead != 4000 || res.RecordsWritten != 500 {
		t.Errorf("records read/bytes/written = %d/%d/%d, want 500/4000/500", res.RecordsRead, res.BytesRead, res.RecordsWritten)
	}
	if !res.Final || res.Checkpoint == nil || res.Checkpoint.ID != 5 || res.Checkpoint.Records != 500 {
		t.Errorf("final=%v checkpoint=%+v, want final and checkpoint 5 covering 500", res.Final, res.Checkpoint)
	}
	if res.SourceWorker != w.addr || res.DestWorker != w.addr {
		t.Errorf("workers = %q/%q, want %q", res.SourceWorker, res.DestWorker, w.addr)
	}
	if res.SourceModuleLoadMs != 3 || res.DestModuleLoadMs != 7 {
		t.Errorf("module load = %v/%v, want 3/7", res.SourceModuleLoadMs, res.DestModuleLoadMs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ckpts) != 5 || ckpts[4] != 5 {
		t.Errorf("progress saw checkpoints %v, want 1..5", ckpts)
	}
	if res.Checkpoint.Stream != "users" {
		t.Errorf("checkpoint stream = %q, want users", res.Checkpoint.Stream)
	}
}

func TestRelayBoundsInflight(t *testing.T) {
	const n, maxInflight = 60, 4
	msgs := cannedMessages(t, n, 10, 256<<10)
	gate := make(chan struct{})
	w := startFake(t, &fakeWorker{getMsgs: msgs, putGate: gate})
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()

	var mu sync.Mutex
	var last Progress
	var maxGap uint64
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := p.relayTickets(testCtx(t), read, write, maxInflight, nil, nil, func(pr Progress) {
			mu.Lock()
			last = pr
			maxGap = max(maxGap, pr.MessagesRead-pr.MessagesSent)
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		done <- err
	}()
	// Wait until the relay stalls on the blocked destination.
	for stalled := false; !stalled; {
		select {
		case <-changed:
		case <-time.After(400 * time.Millisecond):
			stalled = true
		}
	}
	mu.Lock()
	stall := last
	mu.Unlock()
	if stall.MessagesRead >= uint64(len(msgs)) {
		t.Errorf("relay read all %d messages while the destination was blocked", stall.MessagesRead)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("relay: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxGap > maxInflight+2 {
		t.Errorf("up to %d messages were in flight, want <= %d", maxGap, maxInflight+2)
	}
	if last.MessagesSent != uint64(len(msgs)) {
		t.Errorf("sent %d messages, want %d", last.MessagesSent, len(msgs))
	}
}

func TestRelayErrors(t *testing.T) {
	authErr := func() error {
		st, _ := status.New(codes.Unauthenticated, "password authentication failed").WithDetails(&rapidbytev1.ConnectorError{
			Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_AUTH, Code: "AUTH_FAILED", Message: "password authentication failed",
		})
		return st.Err()
	}()
	tests := []struct {
		name      string
		fake      func() *fakeWorker
		kill      bool // stop the worker once two messages were read
		wantCat   runerr.Category
		wantRetry bool
		wantCode  string
	}{
		{name: "connector error in details", fake: func() *fakeWorker { return &fakeWorker{getErr: authErr, getFailAfter: 2} }, wantCat: runerr.CategoryAuth, wantCode: "AUTH_FAILED"},
		{name: "plain unavailable", fake: func() *fakeWorker {
			return &fakeWorker{getErr: status.Error(codes.Unavailable, "draining"), getFailAfter: 1}
		}, wantCat: runerr.CategoryTransientNetwork, wantRetry: true},
		{name: "invalid argument", fake: func() *fakeWorker { return &fakeWorker{getErr: status.Error(codes.InvalidArgument, "bad ticket")} }, wantCat: runerr.CategoryConfig},
		{name: "worker dies mid-stream", fake: func() *fakeWorker { return &fakeWorker{getHang: true} }, kill: true, wantCat: runerr.CategoryTransientNetwork, wantRetry: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fake()
			f.getMsgs = cannedMessages(t, 3, 10, 0)
			w := startFake(t, f)
			p := newTestRelayer(t, w.addr)
			read, write := testTickets()
			var once sync.Once
			_, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, func(pr Progress) {
				if tc.kill && pr.MessagesRead >= 2 {
					once.Do(func() { go w.srv.Stop() })
				}
			})
			ce, ok := err.(*runerr.ConnectorError)
			if !ok {
				t.Fatalf("error = %#v, want *runerr.ConnectorError", err)
			}
			if ce.Category != tc.wantCat || ce.Retryable != tc.wantRetry || ce.SafeToRetry != tc.wantRetry {
				t.Errorf("error = %+v, want category %s retryable %v", ce, tc.wantCat, tc.wantRetry)
			}
			if tc.wantCode != "" && ce.Code != tc.wantCode {
				t.Errorf("code = %q, want %q", ce.Code, tc.wantCode)
			}
			if !tc.kill {
				select { // the destination's stream was cancelled too
				case <-w.putDone:
				case <-time.After(5 * time.Second):
					t.Error("DoPut still running after the source failed")
				}
			}
		})
	}
}

func TestRelayCancel(t *testing.T) {
	w := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 2, 10, 0), getHang: true})
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()
	ctx, cancel := context.WithCancel(testCtx(t))
	var once sync.Once
	start := time.Now()
	_, err := p.relayTickets(ctx, read, write, 4, nil, nil, func(pr Progress) {
		if pr.MessagesSent >= 2 {
			once.Do(cancel)
		}
	})
	ce, ok := err.(*runerr.ConnectorError)
	if !ok || ce.Category != runerr.CategoryCancelled {
		t.Fatalf("error = %v, want a cancelled error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
	for name, ch := range map[string]chan error{"DoGet": w.getDone, "DoPut": w.putDone} {
		select {
		case err := <-ch:
			if err == nil {
				t.Errorf("%s ended without seeing the cancellation", name)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s still running after cancel", name)
		}
	}
}

func TestRelayAvoidsFailedWorker(t *testing.T) {
	a := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 1, 10, 0)})
	b := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 1, 10, 0)})
	p := newTestRelayer(t, a.addr, b.addr)
	read, write := testTickets()
	warmUp(t, p, read, write)
	a.mu.Lock()
	warmGets, warmPuts := a.gets, a.puts
	a.mu.Unlock()
	for i := 0; i < 4; i++ {
		res, err := p.relayTickets(testCtx(t), read, write, 4, []string{a.addr}, nil, nil)
		if err != nil {
			t.Fatalf("relay %d: %v", i, err)
		}
		if res.SourceWorker != b.addr || res.DestWorker != b.addr {
			t.Errorf("relay %d used %s/%s, want %s", i, res.SourceWorker, res.DestWorker, b.addr)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gets != warmGets || a.puts != warmPuts {
		t.Errorf("avoided worker served %d reads and %d writes", a.gets-warmGets, a.puts-warmPuts)
	}
}

// warmUp relays until the pool has used two workers (both connected).
func warmUp(t *testing.T, p *Relayer, read *rapidbytev1.ReadTicket, write *rapidbytev1.WriteTicket) {
	t.Helper()
	seen := map[string]bool{}
	for i := 0; len(seen) < 2; i++ {
		if i == 50 {
			t.Fatalf("the pool used only %v", seen)
		}
		res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		if err != nil {
			t.Fatalf("warm-up relay: %v", err)
		}
		seen[res.SourceWorker] = true
		seen[res.DestWorker] = true
	}
}

// TestRelayPlacesReadAndWriteApart: with two ready workers, a stream's read
// and write go to different workers, and successive streams take turns
// reading on each.
func TestRelayPlacesReadAndWriteApart(t *testing.T) {
	a := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 1, 10, 0)})
	b := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 1, 10, 0)})
	p := newTestRelayer(t, a.addr, b.addr)
	read, write := testTickets()
	warmUp(t, p, read, write)
	sources := map[string]int{}
	for i := range 4 {
		res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		if err != nil {
			t.Fatalf("relay %d: %v", i, err)
		}
		if res.SourceWorker == res.DestWorker {
			t.Errorf("relay %d: read and write both on %s", i, res.SourceWorker)
		}
		sources[res.SourceWorker]++
	}
	if sources[a.addr] != 2 || sources[b.addr] != 2 {
		t.Errorf("reads per worker %v, want 2 on each of %s and %s", sources, a.addr, b.addr)
	}
}

func TestRelayEmptySource(t *testing.T) {
	w := startFake(t, &fakeWorker{})
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()
	res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
	if err != nil {
		t.Fatalf("relay of an empty stream: %v", err)
	}
	if res.RecordsRead != 0 || res.MessagesSent != 0 {
		t.Errorf("result = %+v", res)
	}
}

// verdict returns a worker status carrying a ConnectorError.
func verdict(code codes.Code, ce *rapidbytev1.ConnectorError) error {
	st, _ := status.New(code, ce.GetMessage()).WithDetails(ce)
	return st.Err()
}

// TestRelayDeadlineVerdicts checks which error a relay ends with when the
// workers' deadline passes: a worker's definitive verdict (a runaway guest,
// abandoned) beats the other side's "my deadline passed", which arrives
// first; between two deadline verdicts the source's wins.
func TestRelayDeadlineVerdicts(t *testing.T) {
	runaway := verdict(codes.Internal, &rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_INTERNAL, Code: runerr.CodeUnresponsive,
		Message: "rb_read ran past its deadline and did not return", Hint: "fix the connector"})
	readDeadline := verdict(codes.Unavailable, &rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, Code: runerr.CodeDeadline,
		Message: "rb_read timed out", Retryable: true, SafeToRetry: true})
	writeDeadline := verdict(codes.Unavailable, &rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, Code: runerr.CodeDeadline,
		Message: "rb_write timed out", Retryable: true, CommitState: rapidbytev1.CommitState_COMMIT_STATE_AFTER_COMMIT_UNKNOWN})
	tests := []struct {
		name      string
		fake      *fakeWorker
		wantCode  string
		wantRead  bool // the error is the source's
		wantRetry bool
		maxTime   time.Duration
	}{
		{name: "runaway source outlives a starved destination", wantCode: runerr.CodeUnresponsive, wantRead: true, maxTime: 5 * time.Second,
			fake: &fakeWorker{getMsgs: cannedMessages(t, 2, 10, 0), getErr: runaway, getFailAfter: 2, getErrDelay: 500 * time.Millisecond, putErr: writeDeadline}},
		{name: "two deadline verdicts: the source's wins", wantCode: runerr.CodeDeadline, wantRead: true, wantRetry: true, maxTime: 5 * time.Second,
			fake: &fakeWorker{getMsgs: cannedMessages(t, 2, 10, 0), getErr: readDeadline, getFailAfter: 2, getErrDelay: 500 * time.Millisecond, putErr: writeDeadline}},
		{name: "source deadline before the destination got its ticket", wantCode: runerr.CodeDeadline, wantRead: true, wantRetry: true, maxTime: 3 * time.Second,
			fake: &fakeWorker{getErr: readDeadline, getHang: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := startFake(t, tc.fake)
			p := newTestRelayer(t, w.addr)
			read, write := testTickets()
			start := time.Now()
			_, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
			took := time.Since(start)
			ce, ok := err.(*runerr.ConnectorError)
			if !ok {
				t.Fatalf("error = %#v, want *runerr.ConnectorError", err)
			}
			if ce.Code != tc.wantCode || strings.HasPrefix(ce.Message, "read ") != tc.wantRead {
				t.Errorf("error = %+v, want code %s from the %s", ce, tc.wantCode, map[bool]string{true: "source", false: "destination"}[tc.wantRead])
			}
			if got := (retry.Policy{MaxRetries: 3}).Decision(1, *ce).Retry; got != tc.wantRetry {
				t.Errorf("retried = %v, want %v (%+v)", got, tc.wantRetry, ce)
			}
			if took > tc.maxTime {
				t.Errorf("relay took %s, want <= %s", took, tc.maxTime)
			}
		})
	}
}

// TestRelaySilentWorkerPastDeadline: a worker that says nothing until
// VerdictGrace past the job's timeout (frozen by a guest spinning without
// host calls) fails the job as internal/unresponsive, not retried.
func TestRelaySilentWorkerPastDeadline(t *testing.T) {
	w := startFake(t, &fakeWorker{getHang: true})
	p, err := workerpool.NewPool(workerpool.PoolConfig{Workers: w.addr, VerdictGrace: 300 * time.Millisecond}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	_, err = New(p).Relay(testCtx(t), Job{RunID: "r1", Attempt: 1, Pipeline: &pipeline.Pipeline{},
		Stream: pipeline.StreamConfig{Name: "users"}, Timeout: time.Second}, nil)
	took := time.Since(start)
	ce, ok := err.(*runerr.ConnectorError)
	if !ok {
		t.Fatalf("error = %#v, want *runerr.ConnectorError", err)
	}
	if ce.Category != runerr.CategoryInternal || ce.Code != runerr.CodeUnresponsive || ce.Retryable || ce.Hint == "" {
		t.Errorf("error = %+v, want internal/%s, not retryable, with a hint", ce, runerr.CodeUnresponsive)
	}
	if (retry.Policy{MaxRetries: 3}).Decision(1, *ce).Retry {
		t.Error("a silent worker's job is retried")
	}
	if took < time.Second+300*time.Millisecond || took > 5*time.Second {
		t.Errorf("relay took %s, want the timeout plus the verdict grace", took)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := w.ticket.GetTimeoutSeconds(); got != 1 {
		t.Errorf("ticket timeout %ds, want the job's 1s (the grace is the relay's only)", got)
	}
}

// TestRelayRecoversPanic checks that a panic in a relay goroutine fails the
// stream with an internal error and cancels it, instead of killing the
// process.
func TestRelayRecoversPanic(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &relay{parent: ctx, cancel: cancel, stream: `stream "s"`}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.recoverPanic("read")
		var m map[string]int
		//lint:ignore SA5000 the test needs a runtime panic
		m["x"]++ // a nil-map write panics
	}()
	<-done
	err := r.firstErr()
	if err == nil || err.Category != runerr.CategoryInternal || err.Code != "RELAY_PANIC" {
		t.Fatalf("firstErr = %v, want an internal RELAY_PANIC error", err)
	}
	if ctx.Err() == nil {
		t.Error("the relay's context was not cancelled")
	}
}
