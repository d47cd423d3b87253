package pgconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/sdktest"
)

func rawConfig(t *testing.T, c pgclient.Config, extra map[string]any) json.RawMessage {
	t.Helper()
	return config(t, c, extra).Raw()
}

func TestSourceConformance(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, pgtest.AllTypesSQL)
	pgtest.Exec(t, conn, `CREATE TABLE "Events" (id bigint PRIMARY KEY, at timestamptz NOT NULL, v text);
		INSERT INTO "Events" SELECT i, timestamptz '2024-01-01' + i * interval '1 minute', 'v' || i FROM generate_series(1, 5000) i;
		CREATE TABLE heap (n int, s text); INSERT INTO heap SELECT i, repeat('x', i % 50) FROM generate_series(1, 3000) i`)
	ok := rawConfig(t, cfg, map[string]any{"schema": "public"})
	limits := abi.Limits{MaxBatchRows: 700, CheckpointIntervalRows: 1000}
	ts := int64(1704067200000000 + 4000*60*1000000)
	sdktest.RunSource(t, &sdktest.NativeHarness{Connector: sdk.Connector{Source: NewSource()}, Logf: t.Logf}, sdktest.SourceSuite{
		Config:    ok,
		BadConfig: rawConfig(t, cfg, map[string]any{"sslmode": "sometimes"}),
		Cases: []sdktest.SourceCase{
			{Name: "all types", Config: ok, Stream: abi.StreamSpec{Name: "all_types", Limits: abi.Limits{MaxBatchRows: 4}}, WantRows: 6},
			{Name: "keyset full refresh", Config: ok, Stream: abi.StreamSpec{Name: "Events", Limits: limits}, WantRows: 5000,
				Check: func(t *testing.T, r *sdktest.ReadResult) {
					cps := r.Checkpoints()
					if last := cps[len(cps)-1]; last.CursorField != "id" || *last.CursorValue.Int != 5000 || last.Records != 5000 {
						t.Errorf("last checkpoint = %+v", last)
					}
				}},
			{Name: "ctid full refresh", Config: ok, Stream: abi.StreamSpec{Name: "heap", Limits: limits}, WantRows: 3000},
			{Name: "incremental resume", Config: ok, Stream: abi.StreamSpec{Name: "Events", SyncMode: "incremental", CursorField: "at", Limits: limits},
				Resume: &abi.Checkpoint{CursorField: "at", CursorValue: &abi.CursorValue{TimestampMicros: &ts}, Records: 4000}, WantRows: 1000},
			{Name: "partition 2 of 3", Config: ok, Stream: abi.StreamSpec{Name: "Events", Partition: &abi.Partition{Index: 1, Count: 3, Key: "id"}, Limits: limits}, WantRows: 1667},
		},
	})
}

func TestDestinationConformanceAndCopy(t *testing.T) {
	srcCfg, dstCfg := pgtest.NewDB(t), pgtest.NewDB(t)
	src, dst := pgtest.Connect(t, srcCfg), pgtest.Connect(t, dstCfg)
	pgtest.Exec(t, src, pgtest.AllTypesSQL)
	pgtest.Exec(t, dst, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
	ctx := context.Background()
	srcH := &sdktest.NativeHarness{Connector: sdk.Connector{Source: NewSource()}}
	read, err := srcH.Read(ctx, sdktest.ReadRequest{Config: rawConfig(t, srcCfg, nil), Stream: abi.StreamSpec{Name: "all_types", Limits: abi.Limits{MaxBatchRows: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	ok := rawConfig(t, dstCfg, map[string]any{"schema": "landing"})
	write := func(mode string) sdktest.WriteRequest {
		return sdktest.WriteRequest{Config: ok, Schema: read.Schema(), Batches: read.Batches(),
			Stream: abi.StreamSpec{Name: "all_types", DestinationTable: "t_" + mode, WriteMode: mode, PrimaryKey: []string{"id"}, Pipeline: "conf", RunID: "r"}}
	}
	equal := func(table string) func(t *testing.T, r *sdktest.WriteResult) {
		return func(t *testing.T, _ *sdktest.WriteResult) {
			for _, col := range append([]string{"id"}, pgtest.AllTypesColumns...) {
				q := fmt.Sprintf("SELECT md5(string_agg(coalesce(%s::text, '<NULL>'), '|' ORDER BY id)) FROM %%s", pgsql.Ident(col))
				if a, b := pgtest.QueryStrings(t, src, fmt.Sprintf(q, "public.all_types"))[0][0], pgtest.QueryStrings(t, dst, fmt.Sprintf(q, "landing."+table))[0][0]; a != b {
					t.Errorf("%s column %q differs", table, col)
				}
			}
		}
	}
	badPK := write(abi.WriteUpsert)
	badPK.Stream.PrimaryKey, badPK.Stream.DestinationTable = []string{"nope"}, "t_bad"
	sdktest.RunDestination(t, &sdktest.NativeHarness{Connector: sdk.Connector{Destination: NewDestination()}, Logf: t.Logf}, sdktest.DestinationSuite{
		Config:    ok,
		BadConfig: rawConfig(t, dstCfg, map[string]any{"port": "5432"}),
		Cases: []sdktest.DestinationCase{
			{Name: "append", Write: write(abi.WriteAppend), Check: equal("t_append")},
			{Name: "replace", Write: write(abi.WriteReplace), Check: equal("t_replace")},
			{Name: "upsert", Write: write(abi.WriteUpsert), Check: equal("t_upsert")},
			{Name: "upsert on a missing key column", Write: badPK, WantErrCategory: abi.CategoryConfig},
		},
	})
}
