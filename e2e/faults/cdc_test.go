package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestCDCWorkerKilled streams a backlog of changes on a coordinator with
// two workers and SIGKILLs the worker applying them once the destination
// has committed part of the backlog: the run retries from the last
// persisted LSN on the other worker and the destination equals the source.
func TestCDCWorkerKilled(t *testing.T) {
	const pipeline, slot = "rb_cdc_kill", "rapidbyte_rb_cdc_kill"
	e2etest.RequireBinaries(t)
	src := e2etest.NewLogicalDatabase(t, "rb_cdc_kill_src")
	dst := e2etest.NewLogicalDatabase(t, "rb_cdc_kill_dst")
	dropSlot := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		_, _ = src.Pool(t).Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	}
	dropSlot()
	t.Cleanup(dropSlot)
	src.Exec(t, `CREATE TABLE item (id bigint PRIMARY KEY, v bigint NOT NULL, pad text);
INSERT INTO item SELECT g, 0, md5(g::text) FROM generate_series(1, 4000) g;`)

	c := startCluster(t, clusterOpts{workers: 2})
	file := e2etest.Pipeline{Name: pipeline, Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		Streams:   []e2etest.Stream{{Name: "item", SyncMode: "cdc"}},
		Resources: map[string]any{"max_batch_rows": 500, "checkpoint_interval_rows": 1}}.Write(t)
	first := e2etest.RunCLI(t, c.Env(), "run", "-o", "json", file)
	first.RequireExit(t, 0)

	for i := 0; i < 150; i++ {
		src.Exec(t, fmt.Sprintf("UPDATE item SET v = v + 1, pad = md5(pad) WHERE id %% 2 = %d", i%2))
	}
	var start int64
	dst.QueryRow(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", []any{pipeline}, &start)
	run := startRun(t, c, file)
	deadline := time.Now().Add(90 * time.Second)
	for dst.Int64(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", pipeline) <= start {
		if time.Now().After(deadline) {
			t.Fatal("the destination committed nothing of the backlog")
		}
		select {
		case res := <-run:
			t.Fatalf("run finished before the worker could be killed\n%s", res)
		case <-time.After(10 * time.Millisecond):
		}
	}
	var victim *e2etest.Process
	for _, port := range logicalBackendPorts(t, dst) {
		if p := ownerOfPort(t, port, c.Workers); p != nil {
			victim = p
			break
		}
	}
	if victim == nil {
		t.Fatal("no worker holds the destination connection mid-stream")
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	rr := finishRun(t, run)
	t.Logf("killed %s; retry_count %d, first attempt error: %s", victim.Name, rr.RetryCount, rr.AttemptErrors[0].Error.Message)
	e2etest.RequireSameTable(t, src, dst, "item", "item", "r.id")
}

// logicalBackendPorts lists the client ports of Rapidbyte's connections to
// db (on the wal_level=logical server).
func logicalBackendPorts(t *testing.T, db *e2etest.DB) []int64 {
	t.Helper()
	rows, err := db.Pool(t).Query(context.Background(), `SELECT client_port::bigint FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'rapidbyte' AND client_port IS NOT NULL`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
