package grpcapi

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/worker/internal/runner"
	"github.com/rapidbyte/rapidbyte/worker/internal/wasmhost"
)

// GetFlightInfo describes a read, so that a standard Flight client
// (pyarrow's get_flight_info, then do_get) can read a stream knowing only
// the command bytes: the descriptor's cmd is the serialized ReadTicket that
// DoGet takes. The answer carries the stream's Arrow schema, found by
// discovering the source (no rows are read), and one endpoint whose ticket
// is that same ReadTicket, with no location: read it from this worker.
// Record and byte totals are unknown (-1).
func (s *FlightServer) GetFlightInfo(ctx context.Context, d *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if d.GetType() != flight.DescriptorCMD {
		return nil, toStatus(s.log, invalidf("the descriptor must be a CMD holding a serialized rapidbyte.v1.ReadTicket"))
	}
	req, err := readRequest(d.GetCmd())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	fields, err := s.svc.ReadSchema(ctx, req)
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	bs, err := batch.NewSchema(fields)
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	schema, err := wasmhost.ArrowSchema(bs)
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(schema, memory.DefaultAllocator),
		FlightDescriptor: d,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: d.GetCmd()}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

// readRequest decodes a serialized ReadTicket into the runner's request.
func readRequest(ticket []byte) (runner.StreamRequest, error) {
	var t rbv1.ReadTicket
	if err := proto.Unmarshal(ticket, &t); err != nil {
		return runner.StreamRequest{}, invalidf("ticket is not a rapidbyte.v1.ReadTicket: %v", err)
	}
	return streamRequest(&t)
}
