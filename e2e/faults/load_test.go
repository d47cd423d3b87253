package faults

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// Load test size: loadRuns pipelines of loadRows generated rows each.
const (
	loadRuns = 50
	loadRows = 2000
)

// TestConcurrentLoad submits loadRuns small pipelines at once (`run
// --detach`, ten submitters in parallel) through one coordinator and two
// workers, test-generator → dest-postgres, one table each. Every run must
// be listed SUCCEEDED exactly once and every table must hold its rows.
func TestConcurrentLoad(t *testing.T) {
	e2etest.RequireBinaries(t)
	dst := e2etest.NewDatabase(t, "rb_e2b_load_dst")
	c := startCluster(t, clusterOpts{workers: 2})

	files := make([]string, loadRuns)
	for i := range files {
		p := e2etest.Pipeline{Name: fmt.Sprintf("rb_e2b_load_%02d", i), SourceUse: "test-generator",
			Source:      map[string]any{"rows": loadRows, "columns": []string{"id", "name", "qty"}},
			Destination: e2etest.PGConfig(dst, "public"),
			Streams:     []e2etest.Stream{{Name: "generated", DestinationTable: fmt.Sprintf("load_%02d", i)}},
			Resources:   map[string]any{"max_retries": 2}}
		files[i] = p.Write(t)
	}
	start := time.Now()
	ids := make([]string, loadRuns)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 10 {
		wg.Go(func() {
			for i := range next {
				ids[i] = submit(t, c, files[i]).RunID
			}
		})
	}
	for i := range loadRuns {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d runs submitted in %s", loadRuns, time.Since(start).Round(time.Millisecond))

	byID := map[string]e2etest.RunResult{}
	waitUntil(t, 150*time.Second, 500*time.Millisecond, "every run finished", func() (bool, string) {
		clear(byID)
		for _, r := range listRuns(t, c) {
			byID[r.RunID] = r
		}
		done := 0
		for _, id := range ids {
			if r, ok := byID[id]; ok && r.State != "PENDING" && r.State != "RUNNING" {
				done++
			}
		}
		return done == loadRuns, fmt.Sprintf("%d of %d finished", done, loadRuns)
	})
	t.Logf("%d runs finished %s after the first submission", loadRuns, time.Since(start).Round(time.Millisecond))

	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("run id %s returned twice", id)
		}
		seen[id] = true
		r := byID[id]
		want := fmt.Sprintf("rb_e2b_load_%02d", i)
		if r.Pipeline != want || r.State != "SUCCEEDED" || r.RecordsWritten != loadRows {
			t.Errorf("run %s: pipeline %s state %s records_written %d error %+v, want %s SUCCEEDED %d",
				id, r.Pipeline, r.State, r.RecordsWritten, r.Error, want, loadRows)
			continue
		}
		if n := dst.Count(t, e2etest.Ident("public", fmt.Sprintf("load_%02d", i))); n != loadRows {
			t.Errorf("table load_%02d has %d rows, want %d", i, n, loadRows)
		}
	}
	if got := len(byID); got != loadRuns {
		t.Errorf("ListRuns lists %d runs, want %d", got, loadRuns)
	}
}
