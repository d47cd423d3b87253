package server

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
)

// copyResult is what a CopyStream reported, in the order it came.
type copyResult struct {
	records     uint64 // summed over the batch events
	batches     int
	readEnd     *rbv1.ReadEnd
	eventsAfter int // batch events after the read's end (there must be none)
	acks        []*rbv1.WriteAck
}

// copyStream runs one CopyStream and collects its events; err is the
// call's status.
func copyStream(ctx context.Context, conn *grpc.ClientConn, read *rbv1.ReadTicket, write *rbv1.WriteTicket) (copyResult, error) {
	var res copyResult
	cs, err := rbv1.NewWorkerServiceClient(conn).CopyStream(ctx)
	if err != nil {
		return res, err
	}
	if err := cs.Send(&rbv1.CopyStreamRequest{Read: read, Write: write}); err != nil {
		return res, err
	}
	if err := cs.CloseSend(); err != nil {
		return res, err
	}
	for {
		ev, err := cs.Recv()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		switch {
		case ev.GetBatch() != nil:
			res.records += ev.GetBatch().GetRecords()
			res.batches++
			if res.readEnd != nil {
				res.eventsAfter++
			}
		case ev.GetReadEnd() != nil:
			res.readEnd = ev.GetReadEnd()
		case ev.GetAck() != nil:
			res.acks = append(res.acks, ev.GetAck())
		}
	}
}

// readEndStatus decodes a ReadEnd's error, nil when it has none.
func readEndStatus(t *testing.T, end *rbv1.ReadEnd) *status.Status {
	t.Helper()
	if len(end.GetError()) == 0 {
		return nil
	}
	var st spb.Status
	if err := proto.Unmarshal(end.GetError(), &st); err != nil {
		t.Fatalf("read_end error does not decode: %v", err)
	}
	return status.FromProto(&st)
}

// TestIntegrationCopyStream copies a PostgreSQL table with CopyStream on
// one worker and checks what the caller is told: every batch's metadata
// before the read's end, the destination's acks, and which half failed.
func TestIntegrationCopyStream(t *testing.T) {
	distModule(t, "source-postgres")
	distModule(t, "dest-postgres")
	const rows = 50_000
	db, conf := testDatabase(t, rows)
	addr := startRealWorker(t, "source-postgres", "dest-postgres")
	conn := dialAddr(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tickets := func(table string, destConf map[string]any) (*rbv1.ReadTicket, *rbv1.WriteTicket) {
		return &rbv1.ReadTicket{
				RunId: "it-copy", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
				Stream: &rbv1.StreamSpec{Namespace: "public", Name: table, SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH,
					Limits: &rbv1.Limits{MaxBatchRows: 4096, CheckpointIntervalRows: 10_000}},
			}, &rbv1.WriteTicket{
				RunId: "it-copy", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "dest-postgres"}, Config: mustStruct(t, destConf),
				Stream: &rbv1.StreamSpec{Namespace: "public", Name: table, DestinationTable: "events_copy", Pipeline: "it-copy",
					WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND, Limits: &rbv1.Limits{MaxBatchRows: 4096, CheckpointIntervalRows: 10_000}},
			}
	}

	t.Run("a table copied exactly", func(t *testing.T) {
		read, write := tickets("events", conf)
		res, err := copyStream(ctx, conn, read, write)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		var sum, wantSum float64
		if err := db.QueryRow(ctx, "SELECT count(*), coalesce(sum(amount), 0)::float8 FROM events_copy").Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, "SELECT sum(amount)::float8 FROM events").Scan(&wantSum); err != nil {
			t.Fatal(err)
		}
		if res.records != rows || n != rows || sum != wantSum {
			t.Errorf("batches told %d records; copied %d rows (sum %v, want %d rows, sum %v)", res.records, n, sum, rows, wantSum)
		}
		if res.batches < rows/4096 || res.eventsAfter != 0 {
			t.Errorf("%d batch events, %d after the read's end; want at least %d, none after", res.batches, res.eventsAfter, rows/4096)
		}
		if res.readEnd == nil || len(res.readEnd.GetError()) != 0 || res.readEnd.GetPhases().GetFetchSecs() <= 0 {
			t.Errorf("read end = %v, want success with the source's phases", res.readEnd)
		}
		if len(res.acks) < 2 {
			t.Fatalf("%d acks, want one per checkpoint interval and the final", len(res.acks))
		}
		final := res.acks[len(res.acks)-1]
		if !final.GetFinal() || final.GetRecordsWritten() != rows || final.GetCheckpoint() == nil || final.GetPhases().GetFlushSecs() <= 0 {
			t.Errorf("final ack = %v, want final, %d records, a checkpoint and the destination's phases", final, rows)
		}
	})

	t.Run("a failed read is the read's error, and nothing is written", func(t *testing.T) {
		read, write := tickets("no_such_table", conf)
		res, err := copyStream(ctx, conn, read, write)
		st := readEndStatus(t, res.readEnd)
		if st == nil || grpcapi.ConnectorError(st.Err()).GetConnector() != "source-postgres" {
			t.Fatalf("read end = %v, want the source's error", res.readEnd)
		}
		if status.Code(err) != st.Code() || len(res.acks) != 0 {
			t.Errorf("call ended with %v after %d acks; want the read's status %v and no ack", err, len(res.acks), st.Code())
		}
	})

	t.Run("a failed write is the call's status, and the read reports no error", func(t *testing.T) {
		bad := map[string]any{}
		for k, v := range conf {
			bad[k] = v
		}
		bad["database"] = "rb_no_such_database"
		read, write := tickets("events", bad)
		read.Config = mustStruct(t, conf)
		res, err := copyStream(ctx, conn, read, write)
		ce := grpcapi.ConnectorError(err)
		if status.Code(err) == codes.OK || ce.GetConnector() != "dest-postgres" {
			t.Fatalf("call ended with %v (detail %v), want the destination's error", err, ce)
		}
		if res.readEnd == nil || len(res.readEnd.GetError()) != 0 {
			t.Errorf("read end = %v, want one without an error (the read was cancelled for the write)", res.readEnd)
		}
	})
}
