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
	lines int
	drawn time.Time
	seen  map[string]time.Time
}

// New returns a Renderer writing to w. now is the clock (time.Now when nil).
func New(w io.Writer, now func() time.Time) *Renderer {
	if now == nil {
		now = time.Now
	}
	return &Renderer{w: w, now: now, seen: map[string]time.Time{}}
}

// Update redraws the block for s, at most every 100 ms unless the run state changed.
func (r *Renderer) Update(s Snapshot) {
	now := r.now()
	for _, st := range s.Streams {
		k := key(st)
		if _, ok := r.seen[k]; !ok {
			r.seen[k] = now
		}
	}
	if r.lines > 0 && now.Sub(r.drawn) < minRedraw {
		return
	}
	r.drawn = now
	lines := r.render(s, now)
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

func (r *Renderer) render(s Snapshot, now time.Time) []string {
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
		secs := now.Sub(r.seen[key(st)]).Seconds()
		mbs := 0.0
		if secs > 0 {
			mbs = float64(st.BytesRead) / (1024 * 1024) / secs
		}
		lines = append(lines, fmt.Sprintf("  %-*s  %12s read  %12s written  %8.2f MB/s  %s",
			width, label(st), count(st.RecordsRead), count(st.RecordsWritten), mbs, st.State))
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
