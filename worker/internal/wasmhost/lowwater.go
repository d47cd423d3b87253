package wasmhost

import "time"

// A guest that reads a result set faster than its server sends it spends
// most of the stream in timed sock_reads, and the kernel wakes it for
// every few kilobytes that arrive (PostgreSQL flushes its 8 KiB send
// buffer as it fills): a wake-up of the worker, a return to the guest, a
// parse of a few rows and a new wait, thousands of times per million rows.
// Once a socket has delivered streamingAfter bytes without a
// timed read running out, it counts as streaming and gets a receive
// low-water mark (SO_RCVLOWAT, where the platform has one): a waiting read
// then wakes only when lowWater bytes are queued, or the peer closed or
// failed. A non-blocking poll still returns whatever is queued, so the mark
// changes nothing but when a waiting read wakes. The last bytes of a result
// (fewer than the mark) wait at most lowWaterWait: a timed read of a
// streaming socket is capped at it, and one that runs out drops the mark
// and returns what is queued. Control traffic (queries and their short
// answers, a COPY's acknowledgements) never reaches streamingAfter between
// two reads that waited in vain, so it never waits for the mark. Under TLS
// the mark is the TCP socket's: a record cut short by the cap stays
// buffered in the TLS client (a timeout does not break it), and the poll
// after the drop completes it as any poll of a TLS socket does.
const (
	streamingAfter = 1 << 20
	lowWater       = 64 << 10
	lowWaterWait   = 5 * time.Millisecond
)

// delivered counts n bytes a read returned and sets the low-water mark
// once the socket streams.
func (s *hostSock) delivered(n int) {
	if n <= 0 || s.lowWater {
		return
	}
	s.streamed += n
	if s.streamed >= streamingAfter && setLowWater(s.tcp, lowWater) == nil {
		s.lowWater = true
	}
}

// waitedInVain records a timed read that ran out: the stream paused or
// ended, so the socket stops counting as streaming and drops its mark. It
// reports whether a mark was dropped, in which case bytes below it may be
// queued.
func (s *hostSock) waitedInVain() bool {
	s.streamed = 0
	if !s.lowWater {
		return false
	}
	s.lowWater = false
	_ = setLowWater(s.tcp, 1)
	return true
}
