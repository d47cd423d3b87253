package engine

import (
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// StreamProgress is the live progress of one stream partition.
type StreamProgress struct {
	// Stream is the stream name.
	Stream string
	// Partition is the partition index.
	Partition uint32
	// RecordsRead and BytesRead count what the source emitted in this attempt
	// (plus what earlier attempts committed before a resume).
	RecordsRead, BytesRead uint64
	// RecordsWritten counts records the destination committed.
	RecordsWritten uint64
	// RecordsFailed counts records the destination rejected.
	RecordsFailed uint64
	// State is the stream's state.
	State store.RunState
	// Lag, for the change stream of a follow run, is how far the
	// destination is behind the source (nil otherwise).
	Lag *Lag
}

// Event is one thing that happened to a run.
type Event struct {
	// Time is when it happened.
	Time time.Time
	// RunID identifies the run.
	RunID string
	// State is the run's state after the event.
	State store.RunState
	// Attempt is the current attempt number (0 before the first).
	Attempt int
	// Message describes the event.
	Message string
	// Streams is the progress of every stream partition.
	Streams []StreamProgress
	// Error is set on failures and retries.
	Error *runerr.ConnectorError
}

// subscriberBuffer is how many events a slow watcher may lag behind before
// progress events are dropped for it.
const subscriberBuffer = 256

// hub fans run events out to watchers.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}
}

type subscription struct {
	ch     chan Event
	closed bool
}

func newHub() *hub { return &hub{subs: map[string]map[*subscription]struct{}{}} }

// subscribe returns a channel of the run's events; it is closed when the
// run ends or cancel is called.
func (h *hub) subscribe(runID string) (<-chan Event, func()) {
	s := &subscription{ch: make(chan Event, subscriberBuffer)}
	h.mu.Lock()
	if h.subs[runID] == nil {
		h.subs[runID] = map[*subscription]struct{}{}
	}
	h.subs[runID][s] = struct{}{}
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if m := h.subs[runID]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(h.subs, runID)
			}
		}
		if !s.closed {
			s.closed = true
			close(s.ch)
		}
	}
}

// publish delivers ev to the run's watchers without blocking: a watcher
// whose buffer is full misses the event (watchers always get the final
// state from the store when their channel closes).
func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.RunID] {
		select {
		case s.ch <- ev:
		default:
		}
	}
}

// finish closes every watcher channel of a run.
func (h *hub) finish(runID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[runID] {
		if !s.closed {
			s.closed = true
			close(s.ch)
		}
	}
	delete(h.subs, runID)
}
