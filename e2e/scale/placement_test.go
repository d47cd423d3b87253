package scale

import (
	"fmt"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestPlacementTwelveTables copies 12 tables of very different sizes (from
// 5,000 to 60,000 rows) with one pattern stream through a coordinator and 2
// workers, and requires each worker to do at least 30% of the work: rows it
// read plus rows it wrote, from the workers' own metrics. The coordinator
// places each stream (one CopyStream, read and write on one worker) on the
// least loaded worker, largest streams first.
func TestPlacementTwelveTables(t *testing.T) {
	const tables = 12
	src := e2etest.NewDatabase(t, "rb_sc_place_src")
	var total int64
	for i := range tables {
		rows := (tables - i) * 5_000
		total += int64(rows)
		src.Exec(t, fmt.Sprintf(`CREATE TABLE p%02[1]d (id bigint PRIMARY KEY, name text, amount numeric(12,2));
			INSERT INTO p%02[1]d SELECT g, 'name-' || g, g * 1.25 FROM generate_series(1, %[2]d) g`, i+1, rows))
	}
	dst := e2etest.NewDatabase(t, "rb_sc_place_dst")
	c := startCluster(t, 2)
	p := e2etest.Pipeline{Name: "rb_sc_place", Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		WriteMode: "append", Resources: map[string]any{"parallelism": 4, "max_retries": 0},
		Streams: []e2etest.Stream{{Name: "public.*"}}}
	file := p.Write(t)
	before := c.scrapeAll(t)
	rr := finish(t, e2etest.RunCLI(t, c.Env(), "run", "-o", "json", file))
	after := c.scrapeAll(t)
	if rr.RecordsWritten != uint64(total) {
		t.Fatalf("wrote %d records, want %d", rr.RecordsWritten, total)
	}
	var work [2]int64
	var copies, relayed int64
	for i, w := range c.Workers {
		d := after[i].sub(before[i])
		work[i] = d.RowsRead + d.RowsWritten
		copies += d.Copies
		relayed += d.DoGet + d.DoPut
		t.Logf("%s: read %d and wrote %d rows in %d CopyStream", w.Name, d.RowsRead, d.RowsWritten, d.Copies)
	}
	if copies != tables || relayed != 0 {
		t.Errorf("workers served %d CopyStream and %d relayed halves, want %d and none", copies, relayed, tables)
	}
	sum := work[0] + work[1]
	if sum != 2*total {
		t.Fatalf("workers read + wrote %d rows, want %d", sum, 2*total)
	}
	for i, w := range c.Workers {
		if share := float64(work[i]) / float64(sum); share < 0.30 {
			t.Errorf("%s did %.0f%% of the work (%d of %d rows read + written), want >= 30%%", w.Name, 100*share, work[i], sum)
		}
	}
}
