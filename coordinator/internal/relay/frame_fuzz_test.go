package relay

import (
	"bytes"
	"testing"

	flightpb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/protobuf/proto"
)

// FuzzFlightFields checks the relay's in-place FlightData reader: on any
// bytes it returns an error or fields, never panics; and on a real
// serialized FlightData it finds exactly the header and metadata that were
// encoded, whatever the body holds.
func FuzzFlightFields(f *testing.F) {
	f.Add([]byte("header"), []byte("meta"), []byte("body"), []byte("cmd"))
	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	f.Add([]byte{0xff, 0xff}, []byte{0x12, 0x80}, []byte{0x1a, 0xff, 0xff, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, header, meta, body, cmd []byte) {
		// Arbitrary bytes must not panic.
		_, _, _ = flightFields(body)

		msg := &flightpb.FlightData{DataHeader: header, AppMetadata: meta, DataBody: body}
		if len(cmd) > 0 {
			msg.FlightDescriptor = &flightpb.FlightDescriptor{Type: flightpb.FlightDescriptor_CMD, Cmd: cmd}
		}
		wire, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		gotHeader, gotMeta, err := flightFields(wire)
		if err != nil {
			t.Fatalf("flightFields on a valid message: %v", err)
		}
		if !bytes.Equal(gotHeader, header) || !bytes.Equal(gotMeta, meta) {
			t.Fatalf("header %x meta %x, want %x %x", gotHeader, gotMeta, header, meta)
		}
		withCmd, err := withDescriptor(wire, []byte("ticket"))
		if err != nil {
			t.Fatal(err)
		}
		var back flightpb.FlightData
		if err := proto.Unmarshal(withCmd, &back); err != nil {
			t.Fatalf("withDescriptor produced an invalid message: %v", err)
		}
		if !bytes.Equal(back.DataBody, body) || !bytes.Equal(back.AppMetadata, meta) {
			t.Fatal("withDescriptor changed the body or metadata")
		}
	})
}
