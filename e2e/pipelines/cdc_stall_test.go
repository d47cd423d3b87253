//go:build unix

package pipelines

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestCDCReadPastStalledWALSender stops the run's WAL sender (SIGSTOP)
// while it decodes WAL that precedes the run's only change. The reader's
// status requests pile up meanwhile; once continued, the sender answers
// them all at once, each with the one position it stands at, far below
// the read's end. The read must still go on to its end: it used to take
// the equal answers for an idle server and end there, and the run
// succeeded without the change (issue #18, seen under CPU load).
func TestCDCReadPastStalledWALSender(t *testing.T) {
	const pipeline, slot = "e2e_cdc_stall", "rapidbyte_e2e_cdc_stall"
	p := cdcPair(t, "stall", pipeline)
	p.src.Exec(t, `CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO item SELECT g, 0 FROM generate_series(1, 100) g;
CREATE TABLE noise (id int, pad text);`)
	pl := p.pipeline(pipeline, "public", "", e2etest.Stream{Name: "item", SyncMode: "cdc"})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	runOK(t, env, file)
	// WAL the sender decodes before it reaches the change: rows of a table
	// outside the publication.
	p.src.Exec(t, `INSERT INTO noise SELECT g, 'noise' FROM generate_series(1, 1000000) g`)
	p.src.Exec(t, `UPDATE item SET v = 1`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spool := p.src.Pool(t)
	stalled := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			var pid int32
			err := spool.QueryRow(ctx, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&pid)
			if err == nil && pid != 0 {
				if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
					stalled <- err
					return
				}
				time.Sleep(1500 * time.Millisecond)
				stalled <- syscall.Kill(int(pid), syscall.SIGCONT)
				return
			}
			time.Sleep(time.Millisecond)
		}
		stalled <- errors.New("the run ended before its WAL sender was seen")
	}()
	rr, res := runOK(t, env, file)
	cancel()
	if err := <-stalled; errors.Is(err, syscall.EPERM) {
		e2etest.Missing(t, "cannot signal the PostgreSQL server's processes (%v): this test needs a local server", err)
	} else if err != nil {
		t.Fatalf("stall the WAL sender: %v\n%s", err, res)
	}
	t.Logf("run: %d records", rr.RecordsRead)
	e2etest.RequireSameQuery(t, p.src, p.dst, "SELECT format('%s|%s', id, v) FROM item ORDER BY id")
}
