package pipelines

import (
	"encoding/json"
	"os"
	"strconv"

	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// TestDistributedFullRefresh runs the multi-table full refresh through a
// coordinator and two worker processes, then reads the run back with
// `rapidbyte status RUN_ID -o json`.
func TestDistributedFullRefresh(t *testing.T) {
	p := newPair(t, "dist")
	counts := fullRefreshSeed(t, p.src)
	c := e2etest.StartCluster(t, e2etest.ClusterOptions{Workers: 2})
	pl := p.pipeline("e2e_dist", "public", "append",
		e2etest.Stream{Name: "users"}, e2etest.Stream{Name: "orders"}, e2etest.Stream{Name: "events", PartitionKey: "", Partitions: 2})
	rr, _ := runOK(t, c.Env(), pl.Write(t))

	var total int64
	for table, n := range counts {
		total += n
		wantEqual(t, "destination count of "+table, p.dst.Count(t, e2etest.Ident("public", table)), n)
		e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident("public", table), e2etest.Ident("public", table), "")
	}
	wantEqual(t, "records_written", int64(rr.RecordsWritten), total)

	st := e2etest.RunCLI(t, c.Env(), "status", rr.RunID, "-o", "json")
	st.RequireExit(t, 0)
	got := st.MustRunJSON(t)
	wantEqual(t, "status run_id", got.RunID, rr.RunID)
	wantEqual(t, "status state", got.State, "SUCCEEDED")
	wantEqual(t, "status records_written", got.RecordsWritten, rr.RecordsWritten)
	wantEqual(t, "status records_read", got.RecordsRead, rr.RecordsRead)
	wantEqual(t, "status pipeline", got.Pipeline, "e2e_dist")
	wantEqual(t, "status streams", len(got.Streams), len(rr.Streams))
	wantEqual(t, "status retry_count", got.RetryCount, 0)

	// The streams were spread over both workers.
	g := c.GRPCurl(t, "rapidbyte.v1.CoordinatorService/GetRun", `{"run_id":"`+rr.RunID+`"}`)
	g.RequireExit(t, 0)
	var resp struct {
		Run struct {
			Streams []struct {
				SourceWorker string `json:"sourceWorker"`
				DestWorker   string `json:"destWorker"`
			} `json:"streams"`
		} `json:"run"`
	}
	if err := json.Unmarshal([]byte(g.Stdout), &resp); err != nil {
		t.Fatalf("decode GetRun: %v\n%s", err, g)
	}
	used := map[string]bool{}
	for _, s := range resp.Run.Streams {
		used[s.SourceWorker], used[s.DestWorker] = true, true
	}
	for _, w := range c.Workers {
		if !used[w.Addr] {
			t.Errorf("worker %s at %s served no stream; streams: %+v", w.Name, w.Addr, resp.Run.Streams)
		}
	}
}

// TestDistributedRetryGetRun interrupts a distributed run (destination COPY
// backend terminated mid-run) and reads it back through grpcurl's
// CoordinatorService/GetRun: retry_count 1 and an attempt_history whose
// first attempt carries the error. The raw response is saved to
// $RAPIDBYTE_E2E_GETRUN_OUT when set.
func TestDistributedRetryGetRun(t *testing.T) {
	p := newPair(t, "distretry")
	seedRetry(t, p.src)
	c := e2etest.StartCluster(t, e2etest.ClusterOptions{Workers: 2})
	file := retryPipeline(p, "e2e_dist_retry", "append").Write(t)
	k := startCopyKiller(t, p)
	rr, _ := runOK(t, c.Env(), file)
	requireKilled(t, k)
	wantEqual(t, "retry_count", rr.RetryCount, 1)
	requireExactBig(t, p)

	g := c.GRPCurl(t, "rapidbyte.v1.CoordinatorService/GetRun", `{"run_id":"`+rr.RunID+`"}`)
	g.RequireExit(t, 0)
	var resp struct {
		Run struct {
			RunID          string `json:"runId"`
			State          string `json:"state"`
			RetryCount     int    `json:"retryCount"`
			Attempts       int    `json:"attempts"`
			RecordsWritten string `json:"recordsWritten"` // uint64: a JSON string in protojson
			AttemptHistory []struct {
				Number int `json:"number"`
				Error  *struct {
					Category string `json:"category"`
					Message  string `json:"message"`
				} `json:"error"`
			} `json:"attemptHistory"`
		} `json:"run"`
	}
	if err := json.Unmarshal([]byte(g.Stdout), &resp); err != nil {
		t.Fatalf("decode GetRun: %v\n%s", err, g)
	}
	run := resp.Run
	wantEqual(t, "GetRun run_id", run.RunID, rr.RunID)
	wantEqual(t, "GetRun state", run.State, "RUN_STATE_SUCCEEDED")
	wantEqual(t, "GetRun retry_count", run.RetryCount, 1)
	wantEqual(t, "GetRun attempts", run.Attempts, 2)
	wantEqual(t, "GetRun records_written", run.RecordsWritten, strconv.Itoa(retryRows))
	if len(run.AttemptHistory) != 2 {
		t.Fatalf("GetRun attempt_history has %d entries, want 2\n%s", len(run.AttemptHistory), g.Stdout)
	}
	first := run.AttemptHistory[0]
	if first.Number != 1 || first.Error == nil || first.Error.Category == "" || first.Error.Message == "" {
		t.Errorf("first attempt = %+v, want number 1 with a classified error\n%s", first, g.Stdout)
	}
	if second := run.AttemptHistory[1]; second.Number != 2 || second.Error != nil {
		t.Errorf("second attempt = %+v, want number 2 without error", second)
	}
	if out := os.Getenv("RAPIDBYTE_E2E_GETRUN_OUT"); out != "" && !t.Failed() {
		if err := os.WriteFile(out, []byte(g.Stdout), 0o644); err != nil {
			t.Errorf("save GetRun output: %v", err)
		}
	}
}
