package dispatch

import (
	"bytes"
	"testing"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/protobuf/proto"
)

func TestFrameFields(t *testing.T) {
	in := &flightpb.FlightData{DataHeader: []byte("hdr"), AppMetadata: []byte("meta"), DataBody: bytes.Repeat([]byte{9}, 1000)}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	header, meta, err := flightFields(b)
	if err != nil || string(header) != "hdr" || string(meta) != "meta" {
		t.Errorf("flightFields = %q, %q, %v", header, meta, err)
	}
	withDesc, err := withDescriptor(b, []byte("ticket"))
	if err != nil {
		t.Fatal(err)
	}
	var out flightpb.FlightData
	if err := proto.Unmarshal(withDesc, &out); err != nil {
		t.Fatal(err)
	}
	if string(out.GetFlightDescriptor().GetCmd()) != "ticket" || out.GetFlightDescriptor().GetType() != flightpb.FlightDescriptor_CMD ||
		!bytes.Equal(out.DataBody, in.DataBody) || string(out.DataHeader) != "hdr" {
		t.Errorf("withDescriptor produced %v", &out)
	}
	for _, bad := range [][]byte{{0xff}, {0x12, 0x10, 1}} {
		if _, _, err := flightFields(bad); err == nil {
			t.Errorf("flightFields(%x) accepted malformed input", bad)
		}
	}
}
