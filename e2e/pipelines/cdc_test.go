package pipelines

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// cdcPair creates a source and a destination database on the
// wal_level=logical server and drops the pipeline's slot (before the
// source database, which a slot would keep from being dropped).
func cdcPair(t *testing.T, name, pipeline string) pair {
	t.Helper()
	e2etest.RequireBinaries(t)
	p := pair{
		src: e2etest.NewLogicalDatabase(t, "rb_cdc_"+name+"_src"),
		dst: e2etest.NewLogicalDatabase(t, "rb_cdc_"+name+"_dst"),
	}
	slot := "rapidbyte_" + pipeline
	dropSlot := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = p.src.Pool(t).Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		_, _ = p.src.Pool(t).Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	}
	dropSlot()
	t.Cleanup(dropSlot)
	return p
}

// slotLag returns the bytes of WAL between the slot's confirmed position
// and the current WAL end.
func slotLag(t *testing.T, db *e2etest.DB, slot string) int64 {
	t.Helper()
	return db.Int64(t, `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot)
}

const cdcSchema = `
CREATE TABLE acct (id bigint PRIMARY KEY, name text NOT NULL, balance bigint NOT NULL, doc text, tags text[], at timestamptz);
ALTER TABLE acct ALTER COLUMN doc SET STORAGE EXTERNAL;
CREATE TABLE ledger (id bigserial PRIMARY KEY, acct_id bigint NOT NULL, amount bigint NOT NULL, note text);
INSERT INTO acct SELECT g, 'acct ' || g, 1000, CASE WHEN g % 10 = 0 THEN repeat(md5(g::text), 200) END, ARRAY['a', g::text], timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 3000) g;
INSERT INTO ledger (acct_id, amount, note) SELECT g, 1000, 'opening' FROM generate_series(1, 3000) g;`

// writer runs random transfers (a multi-table transaction: two balance
// updates and two ledger rows), inserts and deletes on the source until
// stopped.
type writer struct {
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64
	err  atomic.Value
}

func startWriter(t *testing.T, db *e2etest.DB) *writer {
	w := &writer{stop: make(chan struct{})}
	pool := db.Pool(t)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			a, b, amt := rng.Int64N(3000)+1, rng.Int64N(3000)+1, rng.Int64N(100)+1
			var sql string
			switch i % 10 {
			case 8:
				id := 100000 + int64(i)
				sql = fmt.Sprintf(`BEGIN; INSERT INTO acct VALUES (%d, 'new %d', 0, NULL, NULL, now()); INSERT INTO ledger (acct_id, amount, note) VALUES (%d, 0, 'open'); COMMIT`, id, id, id)
			case 9:
				sql = fmt.Sprintf(`BEGIN; DELETE FROM ledger WHERE acct_id = (SELECT max(id) FROM acct WHERE id >= 100000); DELETE FROM acct WHERE id = (SELECT max(id) FROM acct WHERE id >= 100000 AND id %% 3 = 0); COMMIT`)
			default:
				sql = fmt.Sprintf(`BEGIN; UPDATE acct SET balance = balance - %[3]d WHERE id = %[1]d; UPDATE acct SET balance = balance + %[3]d WHERE id = %[2]d;
INSERT INTO ledger (acct_id, amount, note) VALUES (%[1]d, -%[3]d, 'transfer'), (%[2]d, %[3]d, 'transfer'); COMMIT`, a, b, amt)
			}
			if _, err := pool.Exec(ctx, sql); err != nil {
				w.err.Store(err)
				return
			}
			w.n.Add(1)
		}
	}()
	return w
}

func (w *writer) Stop(t *testing.T) int64 {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	if err, _ := w.err.Load().(error); err != nil {
		t.Fatalf("source writer: %v", err)
	}
	return w.n.Load()
}

func requireSameCDC(t *testing.T, p pair) {
	t.Helper()
	e2etest.RequireSameTable(t, p.src, p.dst, "acct", "acct", "r.id")
	e2etest.RequireSameTable(t, p.src, p.dst, "ledger", "ledger", "r.id")
}

// TestCDCSnapshotAndChanges takes the initial snapshot while writers run,
// then streams inserts, updates (with an unchanged TOASTed value), deletes
// and multi-table transactions: after each run the destination equals
// the source, and a run with nothing new leaves the slot's lag small.
func TestCDCSnapshotAndChanges(t *testing.T) {
	p := cdcPair(t, "snap", "e2e_cdc_snap")
	p.src.Exec(t, cdcSchema)
	pl := p.pipeline("e2e_cdc_snap", "public", "",
		e2etest.Stream{Name: "acct", SyncMode: "cdc"}, e2etest.Stream{Name: "ledger", SyncMode: "cdc"})
	pl.Resources = map[string]any{"max_batch_rows": 500}
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	// The server runs with wal_level=logical: discover offers cdc.
	disc := e2etest.RunCLI(t, env, "discover", file)
	disc.RequireExit(t, 0)
	contains(t, "discover output", disc.Stdout, "Sync modes:  full_refresh, incremental, cdc")

	w := startWriter(t, p.src)
	first, res := runOK(t, env, file)
	n := w.Stop(t)
	t.Logf("first run: %d records while %d source transactions ran", first.RecordsRead, n)
	if n == 0 {
		t.Fatalf("the writer committed nothing during the snapshot run\n%s", res)
	}
	// The changes after the first run's end arrive with the second.
	runOK(t, env, file)
	requireSameCDC(t, p)

	// Updates that leave the external TOASTed doc unchanged, a key change,
	// deletes, and an insert then update in one transaction.
	p.src.Exec(t, `UPDATE acct SET balance = balance + 1 WHERE id % 10 = 0;
UPDATE acct SET id = 900001 WHERE id = 20;
DELETE FROM ledger WHERE acct_id IN (7, 8, 9);
DELETE FROM acct WHERE id IN (7, 8, 9);
BEGIN; INSERT INTO acct VALUES (900002, 'x', 5, repeat('y', 5000), NULL, NULL); UPDATE acct SET balance = 6 WHERE id = 900002; COMMIT;`)
	third, _ := runOK(t, env, file)
	wantEqual(t, "destination NULL docs", p.dst.Int64(t, "SELECT count(*) FROM acct WHERE doc IS NULL AND id % 10 = 0 AND id < 100000"), 0)
	requireSameCDC(t, p)
	t.Logf("third run: %d records", third.RecordsRead)

	// The next run confirms to the slot the position the previous run
	// committed and persisted (and only that): the slot holds back only
	// the WAL written since.
	committed := p.dst.Int64(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = 'e2e_cdc_snap'")
	runOK(t, env, file)
	confirmed := p.src.Int64(t, "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = 'rapidbyte_e2e_cdc_snap'")
	wantEqual(t, "slot confirmed_flush_lsn after the next run", confirmed, committed)
	t.Logf("slot lag after the idle run: %d bytes", slotLag(t, p.src, "rapidbyte_e2e_cdc_snap"))

	// A slot that is gone is a clear, unretried error asking for a new snapshot.
	p.src.Exec(t, "SELECT pg_drop_replication_slot('rapidbyte_e2e_cdc_snap')")
	lost := e2etest.RunCLI(t, env, "run", "-o", "json", file)
	lost.RequireExit(t, 1)
	rr := lost.MustRunJSON(t)
	wantEqual(t, "retries after the slot was dropped", rr.RetryCount, 0)
	contains(t, "error of a run without its slot", lost.Stdout, "slot_lost")
	contains(t, "error of a run without its slot", lost.Stdout, "re-snapshot")
}

// TestCDCFaultsAndAtomicity streams a backlog of large multi-table
// transactions (each spans many batches) while it terminates, in turn,
// the replication backend and a destination backend mid-apply: the run
// retries from the last committed position, the destination never shows
// a partial source transaction (every transaction keeps sum(balance) =
// sum(amount)), and it ends equal to the source.
func TestCDCFaultsAndAtomicity(t *testing.T) {
	const pipeline, slot = "e2e_cdc_fault", "rapidbyte_e2e_cdc_fault"
	p := cdcPair(t, "fault", pipeline)
	p.src.Exec(t, cdcSchema)
	pl := p.pipeline(pipeline, "public", "",
		e2etest.Stream{Name: "acct", SyncMode: "cdc"}, e2etest.Stream{Name: "ledger", SyncMode: "cdc"})
	pl.Resources = map[string]any{"max_batch_rows": 500, "checkpoint_interval_rows": 1}
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	runOK(t, env, file)
	requireSameCDC(t, p)

	// 120 transactions of 2,000 changes over both tables.
	for i := 0; i < 120; i++ {
		lo := (i*1000)%3000 + 1
		p.src.Exec(t, fmt.Sprintf(`BEGIN;
UPDATE acct SET balance = balance + 1 WHERE id BETWEEN %[1]d AND %[1]d + 999;
INSERT INTO ledger (acct_id, amount, note) SELECT g, 1, 'batch %[2]d' FROM generate_series(%[1]d, %[1]d + 999) g;
COMMIT`, lo, i))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dpool, spool := p.dst.Pool(t), p.src.Pool(t)
	position := func() int64 {
		var v int64
		_ = dpool.QueryRow(ctx, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", pipeline).Scan(&v)
		return v
	}
	start := position()
	var partial atomic.Int64
	var observed atomic.Int64
	var kills atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the destination must only ever show whole transactions
		defer wg.Done()
		for ctx.Err() == nil {
			var diff int64
			if err := dpool.QueryRow(ctx, "SELECT (SELECT sum(balance) FROM acct) - (SELECT sum(amount) FROM ledger)").Scan(&diff); err == nil {
				observed.Add(1)
				if diff != 0 {
					partial.Add(1)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		wait := func(after int64) int64 {
			for ctx.Err() == nil {
				if pos := position(); pos > after {
					return pos
				}
				time.Sleep(5 * time.Millisecond)
			}
			return 0
		}
		wait(start)
		var ok bool
		var killed int32
		if err := spool.QueryRow(ctx, `SELECT active_pid, pg_terminate_backend(active_pid) FROM pg_replication_slots
  WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot).Scan(&killed, &ok); err == nil && ok {
			kills.Add(1)
		}
		// Strike the destination once the retry streams and commits.
		for ctx.Err() == nil {
			var pid int32
			if err := spool.QueryRow(ctx, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&pid); err == nil && pid != 0 && pid != killed {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		wait(position())
		for ctx.Err() == nil {
			var pid int32
			err := dpool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND state IN ('active', 'idle in transaction') AND backend_xid IS NOT NULL LIMIT 1`).Scan(&pid)
			if err == nil {
				if err := dpool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err == nil && ok {
					kills.Add(1)
				}
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	rr, res := runOK(t, env, file)
	cancel()
	wg.Wait()
	t.Logf("run: %d records, %d retries, %d kills, %d destination observations", rr.RecordsRead, rr.RetryCount, kills.Load(), observed.Load())
	if kills.Load() != 2 {
		t.Fatalf("terminated %d backends, want 2 (the run ended too soon?)\n%s", kills.Load(), res)
	}
	if rr.RetryCount < 2 {
		t.Errorf("retry_count = %d, want >= 2", rr.RetryCount)
	}
	wantEqual(t, "observations of a partial source transaction", partial.Load(), 0)
	requireSameCDC(t, p)
}

// TestCDCSoftDeleteAndNewColumn applies deletes as soft deletes and follows
// a column added at the source (new_column: add), including the changes
// written before it was added, while a column dropped between changes of a
// run fails the stream with a schema error.
func TestCDCSoftDeleteAndNewColumn(t *testing.T) {
	p := cdcPair(t, "soft", "e2e_cdc_soft")
	p.src.Exec(t, `CREATE TABLE item (id int PRIMARY KEY, v text); INSERT INTO item SELECT g, 'v' || g FROM generate_series(1, 100) g;`)
	pl := p.pipeline("e2e_cdc_soft", "public", "", e2etest.Stream{Name: "item", SyncMode: "cdc"})
	pl.Destination["soft_delete"] = true
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	runOK(t, env, file)

	p.src.Exec(t, `DELETE FROM item WHERE id <= 10; ALTER TABLE item ADD COLUMN n numeric(6,2);
INSERT INTO item VALUES (101, 'new', 1.5); UPDATE item SET n = 2.25 WHERE id = 50;`)
	runOK(t, env, file)
	wantEqual(t, "destination rows (soft deletes keep them)", p.dst.Count(t, "item"), 101)
	wantEqual(t, "soft-deleted rows", p.dst.Int64(t, "SELECT count(*) FROM item WHERE _rapidbyte_deleted_at IS NOT NULL"), 10)
	wantEqual(t, "new column values", join(p.dst.Strings(t, "SELECT n::text FROM item WHERE n IS NOT NULL ORDER BY id")), "2.25, 1.50")
	e2etest.RequireSameQuery(t, p.src, p.dst, "SELECT format('%s|%s|%s', id, v, n) FROM item WHERE id > 10 ORDER BY id")

	// A column dropped between changes the run reads.
	p.src.Exec(t, `INSERT INTO item VALUES (102, 'x', 3); ALTER TABLE item DROP COLUMN v; INSERT INTO item VALUES (103, 4);`)
	res := e2etest.RunCLI(t, env, "run", "-o", "json", file)
	res.RequireExit(t, 1)
	contains(t, "error of a run after a dropped column", res.Stdout, `"category":"schema"`)
	wantEqual(t, "retries after a dropped column", res.MustRunJSON(t).RetryCount, 0)
}
