package pipelines

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// followRun runs `rapidbyte run --follow -o json FILE` in the background;
// stop sends it SIGINT.
type followRun struct {
	done chan e2etest.Result
	stop context.CancelFunc
}

func startFollow(t *testing.T, env e2etest.Env, file string) *followRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &followRun{done: make(chan e2etest.Result, 1), stop: cancel}
	go func() { f.done <- e2etest.RunCLIContext(ctx, t, env, "run", "--follow", "-o", "json", file) }()
	t.Cleanup(cancel)
	return f
}

// wait returns the CLI's result, failing after d.
func (f *followRun) wait(t *testing.T, d time.Duration) e2etest.Result {
	t.Helper()
	select {
	case res := <-f.done:
		return res
	case <-time.After(d):
		t.Fatalf("run --follow did not end within %s", d)
		return e2etest.Result{}
	}
}

// await polls cond every 50 ms until it holds, failing after d or when the
// follow run ended.
func (f *followRun) await(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case res := <-f.done:
			t.Fatalf("run --follow ended while waiting for %s\n%s", what, res)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runningID returns the id of the pipeline's running run.
func runningID(t *testing.T, env e2etest.Env, pipeline string) string {
	t.Helper()
	res := e2etest.RunCLI(t, env, "runs", "--state", "running", "--pipeline", pipeline, "-o", "json")
	res.RequireExit(t, 0)
	var runs []struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("want one running run of %s (%v)\n%s", pipeline, err, res)
	}
	return runs[0].RunID
}

// TestCDCFollow runs `run --follow` against a remote coordinator: the
// snapshot and then every change reach the destination while the run is
// still RUNNING, within seconds; the slot's confirmed_flush_lsn advances
// during the follow (the slot holds back little WAL); status and the
// coordinator's metrics report the lag; `cdc drop` refuses while the run
// holds the pipeline; `rapidbyte cancel` stops the run at a checkpoint and
// it ends SUCCEEDED with the destination equal to the source.
func TestCDCFollow(t *testing.T) {
	const pipeline, slot = "e2e_cdc_follow", "rapidbyte_e2e_cdc_follow"
	p := cdcPair(t, "follow", pipeline)
	p.src.Exec(t, cdcSchema)
	pl := p.pipeline(pipeline, "public", "",
		e2etest.Stream{Name: "acct", SyncMode: "cdc"}, e2etest.Stream{Name: "ledger", SyncMode: "cdc"})
	file := pl.Write(t)
	metrics := e2etest.FreeAddr(t)
	c := e2etest.StartCluster(t, e2etest.ClusterOptions{
		CoordinatorArgs: []string{"--connectors-dir", e2etest.ConnectorsDir(t), "--metrics-listen", metrics},
		WorkerArgs:      []string{"--connectors-dir", e2etest.ConnectorsDir(t)},
	})
	env := c.Env()

	f := startFollow(t, env, file)
	f.await(t, "the snapshot in the destination", 3*time.Minute, func() bool {
		return p.dst.Int64(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'ledger'") == 1 &&
			p.dst.Int64(t, "SELECT count(*) FROM ledger") == 3000
	})
	id := runningID(t, env, pipeline)
	confirmed := func() int64 {
		return p.src.Int64(t, "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1", slot)
	}
	before := confirmed()

	// Changes written now appear in the destination while the run goes on.
	w := startWriter(t, p.src)
	time.Sleep(2 * time.Second)
	n := w.Stop(t)
	written := time.Now()
	want := p.src.Int64(t, "SELECT count(*) FROM ledger")
	f.await(t, "the changes in the destination", 30*time.Second, func() bool {
		return p.dst.Int64(t, "SELECT count(*) FROM ledger") == want
	})
	t.Logf("%d source transactions caught up %s after the writer stopped", n, time.Since(written).Round(time.Millisecond))
	requireSameCDC(t, p)
	st := e2etest.RunCLI(t, env, "status", "-o", "json", id)
	st.RequireExit(t, 0)
	rr := st.MustRunJSON(t)
	wantEqual(t, "state of the follow run while it follows", rr.State, "RUNNING")

	// The slot is confirmed as checkpoints are persisted, during the run.
	f.await(t, "the slot confirmed past the changes", 30*time.Second, func() bool { return confirmed() > before })
	f.await(t, "a small slot lag during the follow", 30*time.Second, func() bool { return slotLag(t, p.src, slot) < 64<<10 })

	// status and the metrics report the lag; caught up, it is small.
	f.await(t, "a small lag in status", 30*time.Second, func() bool {
		rr := e2etest.RunCLI(t, env, "status", "-o", "json", id).MustRunJSON(t)
		cs := rr.Stream("_cdc")
		return cs != nil && cs.Lag != nil && cs.Lag.Bytes < 64<<10 && cs.Lag.Seconds < 5
	})
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	contains(t, "coordinator metrics", string(body), `rapidbyte_coordinator_cdc_lag_bytes{pipeline="e2e_cdc_follow",run_id="`+id+`",stream="_cdc"}`)
	contains(t, "coordinator metrics", string(body), `rapidbyte_coordinator_cdc_lag_seconds{pipeline="e2e_cdc_follow"`)

	// The pipeline is busy: its change stream cannot be dropped.
	busy := e2etest.RunCLI(t, env, "cdc", "drop", file)
	if busy.ExitCode == 0 {
		t.Fatalf("cdc drop during a follow succeeded\n%s", busy)
	}
	contains(t, "cdc drop during a follow", busy.Stderr, "active run")

	// cancel stops the follow at a checkpoint: SUCCEEDED, nothing lost.
	p.src.Exec(t, "INSERT INTO acct VALUES (990001, 'last', 1, NULL, NULL, NULL)")
	e2etest.RunCLI(t, env, "cancel", id).RequireExit(t, 0)
	res := f.wait(t, 90*time.Second)
	res.RequireExit(t, 0)
	final := res.MustRunJSON(t)
	wantEqual(t, "state of the stopped follow run", final.State, "SUCCEEDED")
	wantEqual(t, "follow flag of the run", final.Follow, true)
	requireSameCDC(t, p)

	// A bounded run afterwards resumes where the follow stopped: it finds
	// nothing new to apply.
	before = p.dst.Int64(t, "SELECT lsn FROM _rapidbyte_cdc_positions WHERE pipeline = $1", pipeline)
	runOK(t, env, file)
	requireSameCDC(t, p)
	t.Logf("slot lag after the follow and a bounded run: %d bytes (position %d)", slotLag(t, p.src, slot), before)
}

// TestCDCDrop drops a pipeline's change stream: the slot and the
// publication are gone, the cursor is forgotten (the output says the next
// run re-snapshots), and the next run takes exactly a snapshot.
func TestCDCDrop(t *testing.T) {
	const pipeline, slot = "e2e_cdc_drop", "rapidbyte_e2e_cdc_drop"
	p := cdcPair(t, "drop", pipeline)
	p.src.Exec(t, cdcSchema)
	pl := p.pipeline(pipeline, "public", "",
		e2etest.Stream{Name: "acct", SyncMode: "cdc"}, e2etest.Stream{Name: "ledger", SyncMode: "cdc"})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	first, _ := runOK(t, env, file)
	p.src.Exec(t, "UPDATE acct SET balance = balance + 1 WHERE id <= 100")
	runOK(t, env, file)

	drop := e2etest.RunCLI(t, env, "cdc", "drop", file)
	drop.RequireExit(t, 0)
	contains(t, "cdc drop output", drop.Stdout, `dropped replication slot "`+slot+`"`)
	contains(t, "cdc drop output", drop.Stdout, `dropped publication "`+slot+`"`)
	contains(t, "cdc drop output", drop.Stdout, "the next run takes a new snapshot")
	wantEqual(t, "slots after drop", p.src.Int64(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot), 0)
	wantEqual(t, "publications after drop", p.src.Int64(t, "SELECT count(*) FROM pg_publication WHERE pubname = $1", slot), 0)

	// Changes made while no slot exists are in the next snapshot.
	p.src.Exec(t, "DELETE FROM ledger WHERE id <= 10; UPDATE acct SET name = 'after drop' WHERE id <= 50")
	rr, _ := runOK(t, env, file)
	wantEqual(t, "records of the run after drop (a snapshot: the first run's, less the 10 deleted rows)", rr.RecordsRead, first.RecordsRead-10)
	requireSameCDC(t, p)

	// Dropping twice is fine: nothing is left.
	again := e2etest.RunCLI(t, env, "cdc", "drop", "-o", "json", file)
	again.RequireExit(t, 0)
	contains(t, "second cdc drop", again.Stdout, `"cursor_deleted":true`)
}
