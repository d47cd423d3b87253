package pipelines

import (
	"fmt"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// hammer writes, in separate source transactions, every sequence of
// changes the destination folds into a net effect per key: insert, update,
// delete and re-insert of one key; updates that leave the external TOASTed
// doc unchanged after an insert of the same batch and against a row only
// the destination holds; an insert deleted again; a key change followed by
// a TOAST-unchanged update and a re-insert of the old key. base offsets the
// keys so that rounds do not overlap.
func hammer(t *testing.T, db *e2etest.DB, base int) {
	t.Helper()
	k, big := base+1, fmt.Sprintf("repeat(md5('%d'), 300)", base)
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO hk VALUES (%d, 0, %s)`, k, big),
		fmt.Sprintf(`UPDATE hk SET n = 1 WHERE id = %d`, k),
		fmt.Sprintf(`DELETE FROM hk WHERE id = %d`, k),
		fmt.Sprintf(`INSERT INTO hk VALUES (%d, 2, 'B' || %s)`, k, big),
		fmt.Sprintf(`BEGIN; UPDATE hk SET n = 3 WHERE id = %[1]d; UPDATE hk SET n = n + 1 WHERE id = %[1]d; COMMIT`, k),
		fmt.Sprintf(`UPDATE hk SET n = n + 10 WHERE id = %d`, k),
		// Rows of the snapshot: the destination keeps their TOASTed docs.
		`UPDATE hk SET n = n + 1 WHERE id BETWEEN 1 AND 5`,
		`BEGIN; DELETE FROM hk WHERE id = 6; INSERT INTO hk VALUES (6, 60, 'six'); UPDATE hk SET n = 61 WHERE id = 6; COMMIT`,
		fmt.Sprintf(`BEGIN; INSERT INTO hk VALUES (%[1]d, 0, 'gone'); DELETE FROM hk WHERE id = %[1]d; COMMIT`, base+2),
		fmt.Sprintf(`INSERT INTO hk VALUES (%d, 0, %s)`, base+3, big),
		fmt.Sprintf(`UPDATE hk SET id = %d WHERE id = %d`, base+4, base+3),
		fmt.Sprintf(`UPDATE hk SET n = 5 WHERE id = %d`, base+4),
		fmt.Sprintf(`INSERT INTO hk VALUES (%d, 7, 'again')`, base+3),
		fmt.Sprintf(`DELETE FROM hk WHERE id = %d`, k),
		fmt.Sprintf(`INSERT INTO hk VALUES (%d, 8, 'last')`, k),
		fmt.Sprintf(`UPDATE hk SET n = 9 WHERE id = %d`, k),
	} {
		db.Exec(t, sql)
	}
}

// TestCDCNetEffect hammers keys with inserts, updates, deletes,
// re-inserts, key changes and TOAST-unchanged updates, first within one
// checkpoint (the destination folds each key's changes into their net
// effect), then with a checkpoint (and a batch) after every change: each
// time the destination equals the source and no TOASTed doc became NULL.
func TestCDCNetEffect(t *testing.T) {
	const pipeline = "e2e_cdc_net"
	p := cdcPair(t, "net", pipeline)
	p.src.Exec(t, `CREATE TABLE hk (id bigint PRIMARY KEY, n int NOT NULL, doc text);
ALTER TABLE hk ALTER COLUMN doc SET STORAGE EXTERNAL;
INSERT INTO hk SELECT g, g, repeat(md5(g::text), 300) FROM generate_series(1, 10) g;`)
	pl := p.pipeline(pipeline, "public", "", e2etest.Stream{Name: "hk", SyncMode: "cdc"})
	pl.Resources = map[string]any{"checkpoint_interval_seconds": 3600}
	batched := pl.Write(t)
	pl.Resources = map[string]any{"max_batch_rows": 1, "checkpoint_interval_rows": 1}
	each := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	runOK(t, env, batched)
	e2etest.RequireSameTable(t, p.src, p.dst, "hk", "hk", "r.id")

	nullDocs := func() int64 { return p.dst.Int64(t, "SELECT count(*) FROM hk WHERE doc IS NULL") }
	hammer(t, p.src, 1000)
	rr, _ := runOK(t, env, batched)
	t.Logf("batched: %d changes", rr.RecordsRead)
	wantEqual(t, "destination NULL docs after the batched round", nullDocs(), 0)
	e2etest.RequireSameTable(t, p.src, p.dst, "hk", "hk", "r.id")

	hammer(t, p.src, 2000)
	rr, _ = runOK(t, env, each)
	t.Logf("a checkpoint per change: %d changes", rr.RecordsRead)
	wantEqual(t, "destination NULL docs after the checkpoint-per-change round", nullDocs(), 0)
	e2etest.RequireSameTable(t, p.src, p.dst, "hk", "hk", "r.id")
}

// TestCDCSameNameInTwoSchemas streams a.t and b.t in one pipeline: they
// land in a_t and b_t (never both in t), a transaction over both is
// applied whole, and each destination table equals its source.
func TestCDCSameNameInTwoSchemas(t *testing.T) {
	const pipeline = "e2e_cdc_schemas"
	p := cdcPair(t, "schemas", pipeline)
	p.src.Exec(t, `CREATE SCHEMA a; CREATE SCHEMA b;
CREATE TABLE a.t (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE b.t (id int PRIMARY KEY, v text NOT NULL, w int);
INSERT INTO a.t SELECT g, 'a' || g FROM generate_series(1, 100) g;
INSERT INTO b.t SELECT g, 'b' || g, g FROM generate_series(1, 50) g;`)
	pl := p.pipeline(pipeline, "public", "",
		e2etest.Stream{Name: "a.t", SyncMode: "cdc"}, e2etest.Stream{Name: "b.t", SyncMode: "cdc"})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)
	same := func() {
		t.Helper()
		e2etest.RequireSameTable(t, p.src, p.dst, "a.t", "a_t", "r.id")
		e2etest.RequireSameTable(t, p.src, p.dst, "b.t", "b_t", "r.id")
		wantEqual(t, "destination tables named t", p.dst.Int64(t, "SELECT count(*) FROM pg_class WHERE relname = 't'"), 0)
	}
	runOK(t, env, file)
	same()
	p.src.Exec(t, `BEGIN; UPDATE a.t SET v = 'x' || id WHERE id <= 10; DELETE FROM b.t WHERE id > 40;
INSERT INTO b.t VALUES (1000, 'n', 1); INSERT INTO a.t VALUES (1000, 'm'); COMMIT;`)
	runOK(t, env, file)
	same()
}
