package grpcapi

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
)

// followControl is what the coordinator last told a follow read: it reads
// the rapidbyte.v1.FollowControl messages a client sends on the DoGet after
// the ticket (see FlightServer) and serves them to the guest's
// follow_state import.
type followControl struct {
	mu sync.Mutex
	st abi.FollowState
}

// State implements guest.Follow.
func (f *followControl) State() abi.FollowState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// receive reads control messages until the client half-closes or the
// stream ends. A message that does not decode is logged and skipped: it
// cannot corrupt the read, only fail to advance it.
func (f *followControl) receive(stream flight.FlightService_DoGetServer, log hclog.Logger) {
	for {
		var t flight.Ticket
		if err := stream.RecvMsg(&t); err != nil {
			return // io.EOF: a client that sends no control (every standard one)
		}
		var c rbv1.FollowControl
		if err := proto.Unmarshal(t.GetTicket(), &c); err != nil {
			log.Warn("follow control message does not decode", "error", err)
			continue
		}
		f.mu.Lock()
		if cp := c.GetPersisted(); cp != nil {
			f.st.Persisted = protoconv.CheckpointFromProto(cp)
		}
		f.st.Stop = f.st.Stop || c.GetStop()
		f.mu.Unlock()
	}
}
