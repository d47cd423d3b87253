package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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
	_, conf := testDatabase(t, 100_000)
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

	read, write = tickets(2)
	_, err = relay(ctx, conn, read, write)
	if status.Code(err) != codes.ResourceExhausted || grpcapi.ConnectorError(err).GetCode() != "WORKER_BUSY" {
		t.Errorf("unpaired stream on one slot = %v, want RESOURCE_EXHAUSTED / WORKER_BUSY", err)
	}
}
