// Package progress draws the live progress of a run on a terminal: one status line
// and one line per stream with rows read and written and the read rate in MB/s.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Stream is the progress of one stream (or partition).
type Stream struct {
	Name           string
	Partition      uint32
	RecordsRead    uint64
	BytesRead      uint64
	RecordsWritten uint64
	State          string
	// Lag, for the change stream of a follow run, is "12.0 KiB, 0.4s"
	// (empty otherwise).
	Lag string
}

// Snapshot is the progress of a run at one moment.
type Snapshot struct {
	State   string
	Attempt uint32
	Message string
	Streams []Stream
}

// minRedraw limits how often the block is redrawn.
const minRedraw = 100 * time.Millisecond

// Renderer redraws a block of lines in place with ANSI escapes. It is meant for a
// terminal; callers decide whether one is attached. A Renderer is not safe for
// concurrent use.
type Renderer struct {
	w     io.Writer
	now   func() time.Time
	start time.Time
	lines int
	drawn time.Time
	seen  map[string]*sample
}

// sample tracks one stream's reading, for its rate: bytes read between the first
// time it was seen and the last time its byte count moved.
type sample struct {
	first, moved time.Time
	bytes        uint64
}

// mbps is the stream's average read rate in MB/s while it was reading.
func (s *sample) mbps() float64 {
	secs := s.moved.Sub(s.first).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(s.bytes) / (1024 * 1024) / secs
}

// New returns a Renderer writing to w. now is the clock (time.Now when nil).
func New(w io.Writer, now func() time.Time) *Renderer {
	if now == nil {
		now = time.Now
	}
	return &Renderer{w: w, now: now, start: now(), seen: map[string]*sample{}}
}

// Update redraws the block for s, at most every 100 ms unless the run state changed.
func (r *Renderer) Update(s Snapshot) {
	now := r.now()
	for _, st := range s.Streams {
		sm, ok := r.seen[key(st)]
		if !ok {
			// A stream first seen with bytes already read started no later than the run.
			sm = &sample{first: now, moved: now}
			if st.BytesRead > 0 {
				sm.first = r.start
			}
			r.seen[key(st)] = sm
		}
		if st.BytesRead != sm.bytes {
			sm.bytes, sm.moved = st.BytesRead, now
		}
	}
	if r.lines > 0 && now.Sub(r.drawn) < minRedraw {
		return
	}
	r.drawn = now
	lines := r.render(s)
	var b strings.Builder
	r.erase(&b)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	r.lines = len(lines)
	_, _ = io.WriteString(r.w, b.String())
}

// Finish erases the block, so the summary that follows stands alone.
func (r *Renderer) Finish() {
	var b strings.Builder
	r.erase(&b)
	r.lines = 0
	_, _ = io.WriteString(r.w, b.String())
}

func (r *Renderer) erase(b *strings.Builder) {
	if r.lines == 0 {
		return
	}
	fmt.Fprintf(b, "\x1b[%dA", r.lines)
	for range r.lines {
		b.WriteString("\x1b[2K\n")
	}
	fmt.Fprintf(b, "\x1b[%dA", r.lines)
}

func (r *Renderer) render(s Snapshot) []string {
	head := fmt.Sprintf("%s (attempt %d)", s.State, max(s.Attempt, 1))
	if msg := strings.Join(strings.Fields(s.Message), " "); msg != "" {
		head += ": " + truncate(msg, 100)
	}
	lines := []string{head}
	width := 0
	for _, st := range s.Streams {
		width = max(width, len(label(st)))
	}
	for _, st := range s.Streams {
		mbs := r.seen[key(st)].mbps()
		line := fmt.Sprintf("  %-*s  %12s read  %12s written  %8.2f MB/s  %s",
			width, label(st), count(st.RecordsRead), count(st.RecordsWritten), mbs, st.State)
		if st.Lag != "" {
			line += "  lag " + st.Lag
		}
		lines = append(lines, line)
	}
	return lines
}

func key(s Stream) string { return fmt.Sprintf("%s\x00%d", s.Name, s.Partition) }

func label(s Stream) string {
	if s.Partition > 0 {
		return fmt.Sprintf("%s[%d]", s.Name, s.Partition)
	}
	return s.Name
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// count formats n with thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
