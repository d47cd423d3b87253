package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRenderer(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	r := New(&buf, func() time.Time { return now })

	r.Update(Snapshot{State: "RUNNING", Attempt: 1, Message: "reading", Streams: []Stream{{Name: "users", State: "RUNNING"}}})
	first := buf.String()
	if !strings.HasPrefix(first, "RUNNING (attempt 1): reading\x1b[K\n") {
		t.Errorf("first draw = %q", first)
	}

	// Too soon: no redraw.
	buf.Reset()
	now = now.Add(50 * time.Millisecond)
	r.Update(Snapshot{State: "RUNNING", Attempt: 1, Streams: []Stream{{Name: "users", RecordsRead: 10, State: "RUNNING"}}})
	if buf.Len() != 0 {
		t.Errorf("redrew within 100 ms: %q", buf.String())
	}

	// Two seconds after the stream appeared, 4 MiB read: 2 MB/s.
	buf.Reset()
	now = now.Add(1950 * time.Millisecond)
	r.Update(Snapshot{State: "RUNNING", Attempt: 1, Streams: []Stream{{Name: "users", RecordsRead: 12345, RecordsWritten: 1000, BytesRead: 4 << 20, State: "RUNNING"}}})
	out := buf.String()
	if !strings.HasPrefix(out, "\x1b[2A\x1b[2K\n\x1b[2K\n\x1b[2A") {
		t.Errorf("redraw does not erase the previous 2 lines: %q", out)
	}
	if !strings.Contains(out, "users        12,345 read         1,000 written      2.00 MB/s  RUNNING") {
		t.Errorf("stream line missing: %q", out)
	}

	// Reading is over: the rate stays at its average while reading.
	buf.Reset()
	now = now.Add(10 * time.Second)
	r.Update(Snapshot{State: "RUNNING", Attempt: 1, Streams: []Stream{{Name: "users", RecordsRead: 12345, RecordsWritten: 12345, BytesRead: 4 << 20, State: "SUCCEEDED"}}})
	if !strings.Contains(buf.String(), "12,345 written      2.00 MB/s  SUCCEEDED") {
		t.Errorf("rate decayed after reading ended: %q", buf.String())
	}

	buf.Reset()
	r.Finish()
	if buf.String() != "\x1b[2A\x1b[2K\n\x1b[2K\n\x1b[2A" {
		t.Errorf("Finish = %q", buf.String())
	}
}
