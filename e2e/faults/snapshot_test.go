package faults

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestPartitionsReadOneSnapshot: a full refresh split into 4 partitions
// (2 workers) copies a table while concurrent writers move amounts between
// rows of different partitions (each transfer one transaction, so the sum
// never changes). The destination must hold every row once and the
// source's constant sum: the partitions read one exported snapshot. Had
// they read separate snapshots, transfers committed between the
// partitions' starts would change the copied sum.
func TestPartitionsReadOneSnapshot(t *testing.T) {
	e2etest.RequireBinaries(t)
	const rows, balance = 200_000, 1000
	src := e2etest.NewDatabase(t, "rb_e2b_snap_src")
	dst := e2etest.NewDatabase(t, "rb_e2b_snap_dst")
	src.Exec(t, `CREATE TABLE acct (id bigint PRIMARY KEY, balance bigint NOT NULL, ver int NOT NULL);
		INSERT INTO acct SELECT g, `+itoa(balance)+`, 0 FROM generate_series(1, `+itoa(rows)+`) g; ANALYZE acct`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := src.Pool(t)
	var wg sync.WaitGroup
	var transfers [3]int
	errs := make(chan error, 3)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 3))
			for ctx.Err() == nil {
				a, b := 1+rnd.Int64N(rows), 1+rnd.Int64N(rows)
				if a == b {
					continue
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					// Lock in id order: transfers never deadlock.
					lo, hi := min(a, b), max(a, b)
					if _, err := tx.Exec(ctx, `SELECT 1 FROM acct WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, lo, hi); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE acct SET balance = balance - 7, ver = ver + 1 WHERE id = $1`, a); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE acct SET balance = balance + 7, ver = ver + 1 WHERE id = $1`, b)
					return err
				})
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				transfers[w]++
			}
		}()
	}

	c := startCluster(t, clusterOpts{workers: 2})
	p := e2etest.Pipeline{Name: "rb_e2b_snap", Source: e2etest.PGConfig(src, "public"),
		Destination: e2etest.PGConfig(dst, "public"),
		Streams:     []e2etest.Stream{{Name: "acct", PartitionKey: "id", Partitions: 4}},
		Resources:   map[string]any{"parallelism": 4, "max_batch_rows": 8192, "max_inflight_batches": 2}}
	res := cli(t, c, "run", "-o", "json", p.Write(t))
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	res.RequireExit(t, 0)
	rr := res.MustRunJSON(t)
	t.Logf("copied %d rows in %.1fs while %d transfers committed", rr.RecordsWritten, rr.DurationSecs, transfers[0]+transfers[1]+transfers[2])
	if transfers[0]+transfers[1]+transfers[2] == 0 {
		t.Fatal("no transfer committed during the copy")
	}
	got := dst.Strings(t, `SELECT count(*)::text || ' ' || count(DISTINCT id)::text || ' ' || sum(balance)::text FROM acct`)
	if want := itoa(rows) + " " + itoa(rows) + " " + itoa(rows*balance); got[0] != want {
		t.Errorf("destination rows, distinct ids, sum = %s, want %s (one snapshot)", got[0], want)
	}
}
