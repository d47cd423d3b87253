package grpcapi

import (
	"context"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/protoconv"
)

// readStream is what a read needs from a DoGet or DoExchange stream.
type readStream interface {
	messageStream
	Context() context.Context
	SetTrailer(metadata.MD)
}

// DoExchange serves a follow read: the first message's descriptor cmd is a
// serialized ReadTicket of a stream with follow set; the read's messages
// go back as a DoGet's would, and every later client message carries a
// serialized rapidbyte.v1.FollowControl as app_metadata.
func (s *FlightServer) DoExchange(stream flight.FlightService_DoExchangeServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	req, err := readRequest(first.GetFlightDescriptor().GetCmd())
	if err != nil {
		return toStatus(s.log, err)
	}
	if !req.Stream.Follow {
		return toStatus(s.log, invalidf("DoExchange serves follow reads only; read other streams with DoGet"))
	}
	fc := &followControl{}
	req.Follow = fc
	go fc.receive(stream, s.log)
	return s.read(req, stream)
}

// followControl is what the coordinator last told a follow read; it
// serves the guest's follow_state import.
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
func (f *followControl) receive(stream flight.FlightService_DoExchangeServer, log hclog.Logger) {
	for {
		fd, err := stream.Recv()
		if err != nil {
			return
		}
		var c rbv1.FollowControl
		if err := proto.Unmarshal(fd.GetAppMetadata(), &c); err != nil {
			log.Warn("follow control message does not decode", "error", err)
			continue
		}
		f.apply(&c, log)
	}
}

// apply records a control message; nil (a message without one) is logged
// and ignored.
func (f *followControl) apply(c *rbv1.FollowControl, log hclog.Logger) {
	if c == nil {
		log.Warn("follow control message is empty")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cp := c.GetPersisted(); cp != nil {
		f.st.Persisted = protoconv.CheckpointFromProto(cp)
	}
	f.st.Stop = f.st.Stop || c.GetStop()
}
