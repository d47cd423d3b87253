package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
)

// counterValue returns the value of the worker's counter called name.
func counterValue(t *testing.T, srv *Server, name string) float64 {
	t.Helper()
	fams, err := srv.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// A long-lived worker keeps the modules it loaded for a run: a second run of
// the same connectors resolves both from memory (cache hits, no new load),
// and with a module cache too small for both it loads each again every run.
func TestIntegrationModuleCacheAcrossRuns(t *testing.T) {
	distModule(t, "source-postgres")
	distModule(t, "dest-postgres")
	_, conf := testDatabase(t, 1_000)
	run := func(t *testing.T, addr string, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn := dialAddr(t, addr)
		id := fmt.Sprintf("it-cache-%s-%d", t.Name(), n)
		read := &rbv1.ReadTicket{
			RunId: id, Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
			Stream: &rbv1.StreamSpec{Namespace: "public", Name: "events", SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH},
		}
		write := &rbv1.WriteTicket{
			RunId: id, Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "dest-postgres"}, Config: mustStruct(t, conf),
			Stream: &rbv1.StreamSpec{
				Namespace: "public", Name: "events", DestinationTable: fmt.Sprintf("events_cache_%d_%d", len(t.Name()), n), Pipeline: "it",
				WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND,
			},
		}
		res, err := relay(ctx, conn, read, write)
		if err != nil {
			t.Fatal(err)
		}
		if res.records != 1_000 {
			t.Fatalf("run %d relayed %d records, want 1000", n, res.records)
		}
	}

	t.Run("default budget keeps both modules", func(t *testing.T) {
		srv, addr := startRealWorkerWith(t, func(*Config) {}, "source-postgres", "dest-postgres")
		run(t, addr, 1)
		misses := counterValue(t, srv, "rapidbyte_worker_module_cache_misses_total")
		hits := counterValue(t, srv, "rapidbyte_worker_module_cache_hits_total")
		if misses != 2 {
			t.Errorf("first run: %v module loads, want 2 (source and destination)", misses)
		}
		run(t, addr, 2)
		if got := counterValue(t, srv, "rapidbyte_worker_module_cache_misses_total"); got != misses {
			t.Errorf("second run loaded modules again: misses %v, then %v", misses, got)
		}
		if got := counterValue(t, srv, "rapidbyte_worker_module_cache_hits_total"); got < hits+2 {
			t.Errorf("second run: cache hits %v, then %v; want at least 2 more", hits, got)
		}
	})

	t.Run("a 1 MiB budget keeps only the last module", func(t *testing.T) {
		srv, addr := startRealWorkerWith(t, func(c *Config) { c.ModuleCacheMiB = 1 }, "source-postgres", "dest-postgres")
		run(t, addr, 1)
		run(t, addr, 2)
		// Each run loads the source (evicting the destination) and then the
		// destination (evicting the source): 4 loads for 2 runs.
		if got := counterValue(t, srv, "rapidbyte_worker_module_cache_misses_total"); got < 4 {
			t.Errorf("misses %v after 2 runs with a 1 MiB module cache, want at least 4", got)
		}
	})
}

// With one guest slot, a stream's read and write marked as one pair (as the
// coordinator's relay marks them) both run on it; unmarked, the write waits
// for the slot the read holds and is refused WORKER_BUSY.
func TestIntegrationPairedAdmission(t *testing.T) {
	distModule(t, "source-postgres")
	distModule(t, "dest-postgres")
	db, conf := testDatabase(t, 100_000)
	_, addr := startRealWorkerWith(t, func(c *Config) {
		c.MaxStreams = 1
		c.QueueTimeout = 500 * time.Millisecond
	}, "source-postgres", "dest-postgres")
	conn := dialAddr(t, addr)
	tickets := func(n int) (*rbv1.ReadTicket, *rbv1.WriteTicket) {
		id := fmt.Sprintf("it-pair-%d", n)
		return &rbv1.ReadTicket{
				RunId: id, Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
				Stream: &rbv1.StreamSpec{Namespace: "public", Name: "events", SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH},
			}, &rbv1.WriteTicket{
				RunId: id, Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "dest-postgres"}, Config: mustStruct(t, conf),
				Stream: &rbv1.StreamSpec{
					Namespace: "public", Name: "events", DestinationTable: fmt.Sprintf("events_pair_%d", n), Pipeline: "it",
					WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND,
				},
			}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	read, write := tickets(1)
	res, err := relay(metadata.AppendToOutgoingContext(ctx, grpcapi.PairHeader, "pair-1"), conn, read, write)
	if err != nil {
		t.Fatalf("paired stream on one slot: %v", err)
	}
	if res.records != 100_000 {
		t.Errorf("paired stream relayed %d records, want 100000", res.records)
	}

	// The unpaired read must still hold the slot when the write asks for
	// it, however fast the machine: the test locks the table, so the
	// source's query waits until the write has been answered.
	lock, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.Background()) }()
	if _, err := lock.Exec(ctx, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	read, write = tickets(2)
	client := flight.NewFlightServiceClient(conn)
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	if _, err := client.DoGet(readCtx, &flight.Ticket{Ticket: mustMarshal(t, read)}); err != nil {
		t.Fatal(err)
	}
	waitForLockWaiter(t, ctx, db)
	// Admitted, the write would wait for batches that never come: bound it.
	putCtx, stopPut := context.WithTimeout(ctx, 10*time.Second)
	defer stopPut()
	put, err := client.DoPut(putCtx)
	if err != nil {
		t.Fatal(err)
	}
	first := &flight.FlightData{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: mustMarshal(t, write)}}
	_ = put.Send(first) // a refusal ends the stream; its status comes from Recv
	_, err = put.Recv()
	if status.Code(err) != codes.ResourceExhausted || grpcapi.ConnectorError(err).GetCode() != "WORKER_BUSY" {
		t.Errorf("unpaired write while the read holds the only slot = %v, want RESOURCE_EXHAUSTED / WORKER_BUSY", err)
	}
}

// waitForLockWaiter returns once a backend of db's database waits for a
// lock. It polls on a connection of its own: inside the lock's transaction
// pg_stat_activity would keep showing the snapshot it first took.
func waitForLockWaiter(t *testing.T, ctx context.Context, db *pgx.Conn) {
	t.Helper()
	poll, err := pgx.ConnectConfig(ctx, db.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer poll.Close(context.Background())
	for {
		var waiting bool
		err := poll.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		if err != nil {
			t.Fatalf("poll for the source's lock wait: %v", err)
		}
		if waiting {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the source never waited for the table lock")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mustMarshal encodes a ticket.
func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
