package server

// Integration tests against real connector modules (dist/, built by
// `make wasm`) and, for the PostgreSQL connectors, a real database
// (RAPIDBYTE_TEST_PG_DSN). They skip when the modules or the database are
// missing, and in -short mode.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/worker/internal/grpcapi"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func sharedCacheDir() string {
	if d := os.Getenv("RAPIDBYTE_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "build", "wazero-cache")
}

// distModule returns the path of a built connector module, or skips (see missing).
func distModule(t *testing.T, id string) string {
	t.Helper()
	for _, sub := range []string{"connectors", "testconnectors"} {
		p := filepath.Join(repoRoot(), "dist", sub, id+".wasm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "%s.wasm is not built (run make wasm)", id)
	return ""
}

// startRealWorker serves a worker with the real wasm host over a
// connectors dir holding the given modules.
func startRealWorker(t *testing.T, ids ...string) string {
	t.Helper()
	_, addr := startRealWorkerWith(t, func(*Config) {}, ids...)
	return addr
}

// startRealWorkerWith is startRealWorker with the config adjusted by edit;
// it also returns the server.
func startRealWorkerWith(t *testing.T, edit func(*Config), ids ...string) (*Server, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	dir := t.TempDir()
	for _, id := range ids {
		if err := os.Symlink(distModule(t, id), filepath.Join(dir, id+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Default()
	cfg.ConnectorsDir = dir
	cfg.CacheDir = sharedCacheDir()
	cfg.DrainTimeout = 5 * time.Second
	edit(&cfg)
	level := hclog.Warn
	if testing.Verbose() {
		level = hclog.Info
	}
	srv, err := New(cfg, hclog.New(&hclog.LoggerOptions{Name: "worker", Level: level, Output: os.Stderr}))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, lis.Addr().String()
}

func dialAddr(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// relayResult summarises a DoGet relayed into a DoPut.
type relayResult struct {
	messages, records uint64
	firstLoadMs       float64
	lastCheckpoint    *rbv1.Checkpoint
	acks              []*rbv1.WriteAck
	// batches holds the metadata of every message that carried records.
	batches []*rbv1.BatchMeta
}

// relay reads a stream with DoGet and forwards every FlightData message,
// undecoded, to a DoPut, as the coordinator does.
func relay(ctx context.Context, conn *grpc.ClientConn, read *rbv1.ReadTicket, write *rbv1.WriteTicket) (relayResult, error) {
	var res relayResult
	client := flight.NewFlightServiceClient(conn)
	tkt, err := proto.Marshal(read)
	if err != nil {
		return res, err
	}
	cmd, err := proto.Marshal(write)
	if err != nil {
		return res, err
	}
	get, err := client.DoGet(ctx, &flight.Ticket{Ticket: tkt})
	if err != nil {
		return res, err
	}
	put, err := client.DoPut(ctx)
	if err != nil {
		return res, err
	}
	ackErr := make(chan error, 1)
	go func() {
		for {
			r, err := put.Recv()
			if errors.Is(err, io.EOF) {
				ackErr <- nil
				return
			}
			if err != nil {
				ackErr <- err
				return
			}
			var a rbv1.WriteAck
			if err := proto.Unmarshal(r.GetAppMetadata(), &a); err != nil {
				ackErr <- err
				return
			}
			res.acks = append(res.acks, &a)
		}
	}()
	for {
		fd, err := get.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("DoGet: %w", err)
		}
		if res.messages == 0 {
			fd.FlightDescriptor = &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd}
		}
		if len(fd.GetAppMetadata()) > 0 {
			var m rbv1.BatchMeta
			if err := proto.Unmarshal(fd.GetAppMetadata(), &m); err != nil {
				return res, err
			}
			if res.records == 0 {
				res.firstLoadMs = m.GetModuleLoadMs()
			}
			res.records += m.GetRecords()
			if m.GetRecords() > 0 {
				res.batches = append(res.batches, &m)
			}
			if m.GetCheckpoint() != nil {
				res.lastCheckpoint = m.GetCheckpoint()
			}
		}
		res.messages++
		if err := put.Send(fd); err != nil {
			break // the DoPut failed; its status comes from Recv
		}
	}
	if err := put.CloseSend(); err != nil {
		return res, err
	}
	if err := <-ackErr; err != nil {
		return res, fmt.Errorf("DoPut: %w", err)
	}
	return res, nil
}

func TestIntegrationGeneratorRelay(t *testing.T) {
	addr := startRealWorker(t, "test-generator")
	conn := dialAddr(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rows = 100_000
	read := &rbv1.ReadTicket{
		RunId: "it-1", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "test-generator"},
		Config: mustStruct(t, map[string]any{"rows": rows, "batch_rows": 16384}),
		Stream: &rbv1.StreamSpec{Name: "gen", SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH},
	}
	write := &rbv1.WriteTicket{
		RunId: "it-1", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "test-generator"},
		Config: mustStruct(t, map[string]any{"expect_rows": rows}),
		Stream: &rbv1.StreamSpec{Name: "gen", WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND},
	}
	start := time.Now()
	res, err := relay(ctx, conn, read, write)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("relayed %d rows in %d messages in %v (first module load %.1f ms)", res.records, res.messages, time.Since(start), res.firstLoadMs)
	if res.records != rows || res.lastCheckpoint.GetCursorValue().GetIntValue() == 0 {
		t.Errorf("read %d records, last checkpoint %v", res.records, res.lastCheckpoint)
	}
	final := res.acks[len(res.acks)-1]
	if !final.GetFinal() || final.GetRecordsWritten() != rows || final.GetCheckpoint().GetCursorValue().GetIntValue() != res.lastCheckpoint.GetCursorValue().GetIntValue() {
		t.Errorf("final ack %v, want final with %d records and the last checkpoint", final, rows)
	}
	if len(res.acks) < 2 {
		t.Errorf("got %d acks, want one per commit plus the final", len(res.acks))
	}

	// A classified connector failure crosses as a status with its details.
	write.Config = mustStruct(t, map[string]any{"expect_rows": rows + 1})
	_, err = relay(ctx, conn, read, write)
	ce := grpcapi.ConnectorError(errors.Unwrap(err))
	if status.Code(errors.Unwrap(err)) != codes.FailedPrecondition || ce.GetCategory() != rbv1.ErrorCategory_ERROR_CATEGORY_DATA || ce.GetConnector() != "test-generator" {
		t.Errorf("row count mismatch: %v (detail %v), want FailedPrecondition with a data ConnectorError", err, ce)
	}
}

// pgDSN returns the test database DSN, or skips when PostgreSQL is unreachable.
func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("RAPIDBYTE_TEST_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		missing(t, "PostgreSQL unreachable: %v", err)
	}
	conn.Close(ctx)
	return dsn
}

// testDatabase creates a fresh database with a populated table "events"
// and returns a connection to it and its connector config.
func testDatabase(t *testing.T, rows int) (*pgx.Conn, map[string]any) {
	t.Helper()
	dsn := pgDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rb_wk_it_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = name
	db, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	if _, err := db.Exec(ctx, `CREATE TABLE events (
		id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), created_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO events
		SELECT g, 'event-' || g, (g % 1000) / 10.0, timestamptz '2026-01-01' + g * interval '1 second'
		FROM generate_series(1, $1::int) g`, rows); err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"host": cfg.Host, "port": int(cfg.Port), "user": cfg.User, "database": name, "schema": "public"}
	if cfg.Password != "" {
		conf["password"] = cfg.Password
	}
	return db, conf
}

func TestIntegrationPostgres(t *testing.T) {
	distModule(t, "source-postgres")
	distModule(t, "dest-postgres")
	db, conf := testDatabase(t, 50_000)
	addr := startRealWorker(t, "source-postgres", "dest-postgres")
	conn := dialAddr(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("discover through the gRPC API", func(t *testing.T) {
		resp, err := rbv1.NewWorkerServiceClient(conn).Discover(ctx, &rbv1.DiscoverRequest{
			Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
		})
		if err != nil {
			t.Fatal(err)
		}
		var found *rbv1.Stream
		for _, s := range resp.GetCatalog().GetStreams() {
			if s.GetName() == "events" {
				found = s
			}
		}
		if found == nil || len(found.GetColumns()) != 4 || found.GetColumns()[0].GetArrowType() != "int64" {
			t.Errorf("catalog = %v", resp.GetCatalog())
		}
	})

	t.Run("discover by name", func(t *testing.T) {
		if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS unnamed (id int)"); err != nil {
			t.Fatal(err)
		}
		discover := func(names ...string) []string {
			resp, err := rbv1.NewWorkerServiceClient(conn).Discover(ctx, &rbv1.DiscoverRequest{
				Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf), Names: names,
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range resp.GetCatalog().GetStreams() {
				got = append(got, s.GetName())
			}
			return got
		}
		if got := discover("events", "nope"); !slices.Equal(got, []string{"events"}) {
			t.Errorf("discover of events and nope = %v, want events only", got)
		}
		if got := discover(); !slices.Contains(got, "unnamed") || !slices.Contains(got, "events") {
			t.Errorf("discover without names = %v, want every table", got)
		}
	})

	t.Run("discover through grpcurl", func(t *testing.T) {
		grpcurl := filepath.Join(repoRoot(), "bin", "grpcurl")
		if _, err := os.Stat(grpcurl); err != nil {
			missing(t, "bin/grpcurl is not installed (make test installs it)")
		}
		body := fmt.Sprintf(`{"connector":{"id":"source-postgres"},"config":{"host":%q,"port":%d,"user":%q,"database":%q,"schema":"public"}}`,
			conf["host"], conf["port"], conf["user"], conf["database"])
		out, err := exec.CommandContext(ctx, grpcurl, "-plaintext", "-d", body, addr, "rapidbyte.v1.WorkerService/Discover").CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), `"name": "events"`) || !strings.Contains(string(out), "SYNC_MODE_FULL_REFRESH") {
			t.Errorf("grpcurl output:\n%s", out)
		}
	})

	t.Run("read a table with DoGet and write it with DoPut", func(t *testing.T) {
		read := &rbv1.ReadTicket{
			RunId: "it-pg", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "source-postgres"}, Config: mustStruct(t, conf),
			Stream: &rbv1.StreamSpec{Namespace: "public", Name: "events", SyncMode: rbv1.SyncMode_SYNC_MODE_FULL_REFRESH},
		}
		write := &rbv1.WriteTicket{
			RunId: "it-pg", Attempt: 1, Connector: &rbv1.ConnectorRef{Id: "dest-postgres"}, Config: mustStruct(t, conf),
			Stream: &rbv1.StreamSpec{
				Namespace: "public", Name: "events", DestinationTable: "events_copy", Pipeline: "it",
				WriteMode: rbv1.WriteMode_WRITE_MODE_APPEND,
			},
		}
		start := time.Now()
		res, err := relay(ctx, conn, read, write)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("PG -> PG: %d rows in %d messages in %v", res.records, res.messages, time.Since(start))
		var n int64
		var sum float64
		if err := db.QueryRow(ctx, "SELECT count(*), coalesce(sum(amount), 0)::float8 FROM events_copy").Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		var wantSum float64
		if err := db.QueryRow(ctx, "SELECT sum(amount)::float8 FROM events").Scan(&wantSum); err != nil {
			t.Fatal(err)
		}
		if res.records != 50_000 || n != 50_000 || sum != wantSum {
			t.Errorf("read %d, copied %d rows (sum %v, want %v)", res.records, n, sum, wantSum)
		}
		if final := res.acks[len(res.acks)-1]; !final.GetFinal() || final.GetRecordsWritten() != 50_000 {
			t.Errorf("final ack = %v", final)
		}
	})
}

// missing skips t for a prerequisite that is not there, or fails it under
// CI=true (as .ci/run runs), where every prerequisite must be present.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
