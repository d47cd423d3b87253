package relay

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

// copyWorker is a fake worker whose CopyStream sends scripted events and
// ends with end.
type copyWorker struct {
	*fakeWorker
	events []*rapidbytev1.CopyStreamResponse
	end    error
	// readEndPause delays the events after a ReadEnd, as a destination
	// still committing when its source failed would.
	readEndPause time.Duration
	copies       int // CopyStream calls, under fakeWorker.mu
}

func (c *copyWorker) CopyStream(s rapidbytev1.WorkerService_CopyStreamServer) error {
	c.mu.Lock()
	c.copies++
	c.mu.Unlock()
	if _, err := s.Recv(); err != nil {
		return err
	}
	for _, ev := range c.events {
		if err := s.Send(ev); err != nil {
			return err
		}
		if ev.GetReadEnd() != nil {
			time.Sleep(c.readEndPause)
		}
	}
	return c.end
}

func startCopyWorker(t *testing.T, events []*rapidbytev1.CopyStreamResponse, end error) *fakeWorker {
	t.Helper()
	f := &fakeWorker{}
	c := &copyWorker{fakeWorker: f, events: events, end: end}
	startFakeServing(t, f, c)
	return f
}

// statusBytes is a ReadEnd error: a serialized status with a ConnectorError.
func statusBytes(t *testing.T, code codes.Code, ce *rapidbytev1.ConnectorError) []byte {
	t.Helper()
	st, err := status.New(code, ce.GetMessage()).WithDetails(ce)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(st.Proto())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deadlineStatus(t *testing.T, connector string) *status.Status {
	t.Helper()
	st, err := status.New(codes.DeadlineExceeded, "timed out").WithDetails(&rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_TRANSIENT_NETWORK, Code: runerr.CodeDeadline,
		Message: "timed out", Connector: connector, Retryable: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCopyRecordsEventsAsARelayWould(t *testing.T) {
	cp := &rapidbytev1.Checkpoint{Stream: "users", CursorField: "id", Records: 30}
	w := startCopyWorker(t, []*rapidbytev1.CopyStreamResponse{
		{Batch: &rapidbytev1.BatchMeta{Records: 10, Bytes: 80, ModuleLoadMs: 3}},
		{Batch: &rapidbytev1.BatchMeta{Records: 20, Bytes: 160, Checkpoint: cp}},
		{ReadEnd: &rapidbytev1.ReadEnd{Phases: &rapidbytev1.StreamPhases{FetchSecs: 1}}},
		{Ack: &rapidbytev1.WriteAck{Checkpoint: cp, RecordsWritten: 30, BytesWritten: 240, Final: true, ModuleLoadMs: 4}},
	}, nil)
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()
	res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsRead != 30 || res.BytesRead != 240 || res.RecordsWritten != 30 || !res.Final || res.Checkpoint == nil ||
		res.SourceWorker != w.addr || res.DestWorker != w.addr || res.SourceModuleLoadMs != 3 || res.DestModuleLoadMs != 4 ||
		res.SourcePhases.Fetch == 0 {
		t.Errorf("result %+v", res)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gets != 0 || w.puts != 0 {
		t.Errorf("the worker served %d DoGet and %d DoPut; a copy needs neither", w.gets, w.puts)
	}
}

func TestCopyBlamesTheSource(t *testing.T) {
	srcErr := &rapidbytev1.ConnectorError{Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: "invalid_stream",
		Message: "no such table", Connector: "src"}
	t.Run("a failed read", func(t *testing.T) {
		w := startCopyWorker(t, []*rapidbytev1.CopyStreamResponse{
			{ReadEnd: &rapidbytev1.ReadEnd{Error: statusBytes(t, codes.InvalidArgument, srcErr)}},
		}, status.Error(codes.InvalidArgument, "no such table"))
		p := newTestRelayer(t, w.addr)
		read, write := testTickets()
		_, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || ce.Code != "invalid_stream" || !strings.Contains(ce.Message, "read stream") {
			t.Errorf("error %v, want the source's invalid_stream on the read", err)
		}
	})
	t.Run("both deadline verdicts", func(t *testing.T) {
		srcDeadline, err := proto.Marshal(deadlineStatus(t, "src").Proto())
		if err != nil {
			t.Fatal(err)
		}
		w := startCopyWorker(t, []*rapidbytev1.CopyStreamResponse{
			{Batch: &rapidbytev1.BatchMeta{Records: 10}},
			{ReadEnd: &rapidbytev1.ReadEnd{Error: srcDeadline}},
		}, deadlineStatus(t, "dst").Err())
		p := newTestRelayer(t, w.addr)
		read, write := testTickets()
		_, err = p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || !ce.DeadlineVerdict() || ce.Connector != "src" {
			t.Errorf("error %v, want the source's deadline verdict", err)
		}
	})
	t.Run("a write error after the read's deadline verdict", func(t *testing.T) {
		srcDeadline, err := proto.Marshal(deadlineStatus(t, "src").Proto())
		if err != nil {
			t.Fatal(err)
		}
		badRow, err := status.New(codes.FailedPrecondition, "value too long").WithDetails(&rapidbytev1.ConnectorError{
			Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_DATA, Code: "bad_row", Message: "value too long", Connector: "dst"})
		if err != nil {
			t.Fatal(err)
		}
		w := startCopyWorker(t, []*rapidbytev1.CopyStreamResponse{
			{Batch: &rapidbytev1.BatchMeta{Records: 10}},
			{ReadEnd: &rapidbytev1.ReadEnd{Error: srcDeadline}},
		}, badRow.Err())
		p := newTestRelayer(t, w.addr)
		read, write := testTickets()
		_, err = p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || ce.Code != "bad_row" || ce.Connector != "dst" {
			t.Errorf("error %v, want the destination's bad_row (any other error replaces a deadline verdict)", err)
		}
	})
	t.Run("acks after a failed read", func(t *testing.T) {
		cp := &rapidbytev1.Checkpoint{Stream: "users", CursorField: "id", Records: 10}
		w := &fakeWorker{}
		startFakeServing(t, w, &copyWorker{fakeWorker: w, events: []*rapidbytev1.CopyStreamResponse{
			{Batch: &rapidbytev1.BatchMeta{Records: 10, Checkpoint: cp}},
			{ReadEnd: &rapidbytev1.ReadEnd{Error: statusBytes(t, codes.InvalidArgument, srcErr)}},
			{Ack: &rapidbytev1.WriteAck{Checkpoint: cp, RecordsWritten: 10}},
		}, end: status.Error(codes.InvalidArgument, "no such table"), readEndPause: 50 * time.Millisecond})
		p := newTestRelayer(t, w.addr)
		read, write := testTickets()
		res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || ce.Code != "invalid_stream" {
			t.Errorf("error %v, want the source's invalid_stream", err)
		}
		if res.RecordsWritten != 10 || res.Checkpoint == nil {
			t.Errorf("result %+v: the destination's commit after the read failed was not recorded", res)
		}
	})
	t.Run("a failed write", func(t *testing.T) {
		w := startCopyWorker(t, []*rapidbytev1.CopyStreamResponse{
			{Batch: &rapidbytev1.BatchMeta{Records: 10}},
			{ReadEnd: &rapidbytev1.ReadEnd{}},
		}, deadlineStatus(t, "dst").Err())
		p := newTestRelayer(t, w.addr)
		read, write := testTickets()
		_, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || ce.Connector != "dst" || !strings.Contains(ce.Message, "write stream") {
			t.Errorf("error %v, want the destination's on the write", err)
		}
	})
}

// TestCopyFallsBackToTheRelay: a worker without CopyStream gets the stream
// relayed, and so does the next stream, without asking again.
func TestCopyFallsBackToTheRelay(t *testing.T) {
	w := startFake(t, &fakeWorker{getMsgs: cannedMessages(t, 2, 10, 0)})
	p := newTestRelayer(t, w.addr)
	read, write := testTickets()
	for i := range 2 {
		res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		if err != nil || res.RecordsWritten != 20 {
			t.Fatalf("relay %d: %+v, %v", i, res, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.copyRefused.Load() == 0 || w.gets != 2 || w.puts != 2 {
		t.Errorf("refused at %d, %d DoGet and %d DoPut; want a refusal and both streams relayed", p.copyRefused.Load(), w.gets, w.puts)
	}
}

// TestCopyOverBudgetRelaysThatStream: a worker whose memory budget cannot
// hold both halves of a stream refuses the copy, and that stream (not the
// next ones) is relayed with its halves on two workers; with no second
// worker for the write the stream fails at once, retryably, instead of
// queueing its write behind its own read.
func TestCopyOverBudgetRelaysThatStream(t *testing.T) {
	over, err := status.New(codes.InvalidArgument, "both halves do not fit").WithDetails(&rapidbytev1.ConnectorError{
		Category: rapidbytev1.ErrorCategory_ERROR_CATEGORY_CONFIG, Code: copyOverBudgetCode, Message: "both halves do not fit"})
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*fakeWorker, *copyWorker) {
		f := &fakeWorker{getMsgs: cannedMessages(t, 2, 10, 0)}
		c := &copyWorker{fakeWorker: f, end: over.Err()}
		startFakeServing(t, f, c)
		return f, c
	}
	read, write := testTickets()

	t.Run("two workers", func(t *testing.T) {
		a, ca := start()
		b, cb := start()
		p := newTestRelayer(t, a.addr, b.addr)
		// Until the pool has connected both, the write may find no
		// second worker.
		for i := 0; ; i++ {
			res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
			if err == nil && res.SourceWorker != res.DestWorker {
				break
			}
			if i == 50 {
				t.Fatalf("no relay with the halves apart: %+v, %v", res, err)
			}
		}
		for i := range 2 {
			res, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
			if err != nil || res.RecordsWritten != 20 || res.SourceWorker == res.DestWorker {
				t.Fatalf("stream %d: %+v, %v; want it relayed, read and write apart", i, res, err)
			}
		}
		a.mu.Lock()
		b.mu.Lock()
		defer a.mu.Unlock()
		defer b.mu.Unlock()
		if p.copyRefused.Load() != 0 || ca.copies+cb.copies != a.gets+b.gets || a.gets+b.gets != a.puts+b.puts {
			t.Errorf("refused at %d, %d CopyStream, %d DoGet and %d DoPut; want each stream offered as a copy, then relayed",
				p.copyRefused.Load(), ca.copies+cb.copies, a.gets+b.gets, a.puts+b.puts)
		}
	})
	t.Run("one worker", func(t *testing.T) {
		a, _ := start()
		p := newTestRelayer(t, a.addr)
		_, err := p.relayTickets(testCtx(t), read, write, 4, nil, nil, nil)
		ce, ok := err.(*runerr.ConnectorError)
		if !ok || ce.Code != "WORKER_BUSY" || !ce.Retryable || !strings.Contains(ce.Message, "both halves do not fit") {
			t.Errorf("error %v, want a retryable WORKER_BUSY quoting the worker's refusal", err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.puts != 0 {
			t.Errorf("%d DoPut on the worker that refused the copy; want none", a.puts)
		}
	})
}
