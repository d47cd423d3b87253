package server

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// TestFlightInfoThenDoGet reads a PostgreSQL table the way a standard Flight
// client does (pyarrow: get_flight_info, then do_get on its endpoint), with
// arrow-go's Flight client and standard calls only: the one thing the client
// knows of our protocol is the command bytes, a serialized ReadTicket.
func TestFlightInfoThenDoGet(t *testing.T) {
	distModule(t, "source-postgres")
	_, conf := testDatabase(t, 3000)
	addr := startRealWorker(t, "source-postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	for _, tc := range []struct {
		name    string
		columns []string
		want    []string
	}{
		{"every column", nil, []string{"id", "name", "amount", "created_at"}},
		{"projection keeps its order", []string{"name", "id"}, []string{"name", "id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := proto.Marshal(&rbv1.ReadTicket{
				Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
				Stream: &rbv1.StreamSpec{Namespace: "public", Name: "events", Columns: tc.columns,
					SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH},
			})
			if err != nil {
				t.Fatal(err)
			}
			info, err := client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
			if err != nil {
				t.Fatal(err)
			}
			schema, err := flight.DeserializeSchema(info.GetSchema(), memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range schema.Fields() {
				names = append(names, f.Name)
			}
			if len(names) != len(tc.want) || names[0] != tc.want[0] || names[len(names)-1] != tc.want[len(tc.want)-1] {
				t.Fatalf("schema fields %q, want %q", names, tc.want)
			}
			if len(info.GetEndpoint()) != 1 {
				t.Fatalf("%d endpoints, want 1", len(info.GetEndpoint()))
			}
			stream, err := client.DoGet(ctx, info.GetEndpoint()[0].GetTicket())
			if err != nil {
				t.Fatal(err)
			}
			rd, err := flight.NewRecordReader(stream)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Release()
			if !rd.Schema().Equal(schema) {
				t.Errorf("DoGet schema\n%s\ndiffers from GetFlightInfo's\n%s", rd.Schema(), schema)
			}
			var rows int64
			for rd.Next() {
				rows += rd.RecordBatch().NumRows()
			}
			if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if rows != 3000 {
				t.Errorf("read %d rows, want 3000", rows)
			}
		})
	}

	t.Run("unknown stream", func(t *testing.T) {
		cmd, _ := proto.Marshal(&rbv1.ReadTicket{
			Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
			Stream: &rbv1.StreamSpec{Namespace: "public", Name: "nope"},
		})
		_, err := client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetFlightInfo of an unknown stream: %v, want InvalidArgument", err)
		}
	})
	t.Run("path descriptor", func(t *testing.T) {
		_, err := client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"events"}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetFlightInfo of a path: %v, want InvalidArgument", err)
		}
	})
}
