package relay

import (
	"context"
	"sync"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/protoconv"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// A follow read runs on a Flight DoExchange instead of a DoGet: the first
// message's descriptor cmd is the ReadTicket, the worker answers like a
// DoGet, and the relay's later messages carry FollowControl as
// app_metadata (a DoGet cannot take client messages after its ticket).
const methodDoExchange = "/arrow.flight.protocol.FlightService/DoExchange"

var doExchangeDesc = grpc.StreamDesc{StreamName: "DoExchange", ServerStreams: true, ClientStreams: true}

// exchangeOpening is the first DoExchange message of a follow read.
func exchangeOpening(ticket []byte) ([]byte, error) {
	return proto.Marshal(&flightpb.FlightData{FlightDescriptor: &flightpb.FlightDescriptor{Type: flightpb.FlightDescriptor_CMD, Cmd: ticket}})
}

// Follow is the coordinator's side of a follow read (Job.Follow): what it
// tells the source while the read runs. Each change is sent to the
// source's worker on the read's DoGet stream, as a
// rapidbyte.v1.FollowControl carried as the app_metadata of a DoExchange
// message. It is safe for concurrent use.
type Follow struct {
	mu        sync.Mutex
	persisted *store.Checkpoint
	stop      bool
	changed   chan struct{}
}

// NewFollow returns the control of one follow read.
func NewFollow() *Follow { return &Follow{changed: make(chan struct{}, 1)} }

// Persisted tells the source that cp is persisted: it may release what
// precedes it (confirm its replication slot up to it).
func (f *Follow) Persisted(cp *store.Checkpoint) {
	f.mu.Lock()
	f.persisted = cp
	f.mu.Unlock()
	f.notify()
}

// Stop asks the source to end the read at its next checkpoint; the stream
// then completes like a bounded one.
func (f *Follow) Stop() {
	f.mu.Lock()
	f.stop = true
	f.mu.Unlock()
	f.notify()
}

// Stopping reports whether Stop was called.
func (f *Follow) Stopping() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stop
}

func (f *Follow) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *Follow) message() *rapidbytev1.FollowControl {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &rapidbytev1.FollowControl{Persisted: protoconv.CheckpointToProto(f.persisted), Stop: f.stop}
}

// sendControl sends the follow control to the source's worker with send
// each time it changes, until ctx ends. A failed send ends it: the read's
// own receive reports why the stream broke.
func sendControl(ctx context.Context, f *Follow, send func(*rapidbytev1.FollowControl) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.changed:
		}
		// A notification taken by a sender that cannot deliver it goes
		// back, for the next attempt's sender.
		if ctx.Err() != nil {
			f.notify()
			return
		}
		if err := send(f.message()); err != nil {
			f.notify()
			return
		}
	}
}
