package pipelines

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// readSeed creates people (id, name with NULLs, score) with 5000 rows.
func readSeed(t *testing.T, db *e2etest.DB) {
	t.Helper()
	db.Exec(t, `
CREATE TABLE people (id int PRIMARY KEY, name text, score numeric(6,2));
INSERT INTO people SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'p' || g END, g / 4.0 FROM generate_series(1, 5000) g;`)
}

// jsonLines decodes `read -o json` output, one object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for line := range strings.Lines(out) {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		rows = append(rows, row)
	}
	return rows
}

// TestReadStream reads one stream with `rapidbyte read`, embedded and
// through a coordinator with a worker process: --limit, JSON lines in
// column order with the projection applied, the table output, and an
// unknown stream's error; nothing reaches a destination.
func TestReadStream(t *testing.T) {
	p := newPair(t, "read")
	readSeed(t, p.src)
	pl := p.pipeline("e2e_read", "raw", "append", e2etest.Stream{Name: "people", Columns: []string{"id", "name"}})
	file := pl.Write(t)
	env := e2etest.NewEmbeddedEnv(t)

	res := e2etest.RunCLI(t, env, "-o", "json", "read", file, "--stream", "people", "--limit", "3")
	res.RequireExit(t, 0)
	rows := jsonLines(t, res.Stdout)
	wantEqual(t, "rows with --limit 3", len(rows), 3)
	if !strings.HasPrefix(res.Stdout, `{"id":1,"name":"p1"}`+"\n") {
		t.Errorf("first line is not the first row, keys in column order, projected to id and name:\n%s", res.Stdout)
	}
	contains(t, "stderr", res.Stderr, "Read 3 rows of stream people")

	res = e2etest.RunCLI(t, env, "-o", "json", "read", file, "--stream", "people")
	res.RequireExit(t, 0)
	rows = jsonLines(t, res.Stdout)
	wantEqual(t, "rows of the whole stream", len(rows), 5000)
	nulls := 0
	for _, r := range rows {
		if r["name"] == nil {
			nulls++
		}
	}
	wantEqual(t, "NULL names", nulls, 1250)

	res = e2etest.RunCLI(t, env, "-o", "table", "read", file, "--stream", "people", "--limit", "4")
	res.RequireExit(t, 0)
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	wantEqual(t, "table lines (header + 4)", len(lines), 5)
	wantEqual(t, "table header", strings.Join(strings.Fields(lines[0]), " "), "id name")
	wantEqual(t, "fourth row", strings.Join(strings.Fields(lines[4]), " "), "4 NULL")

	res = e2etest.RunCLI(t, env, "read", file, "--stream", "peeple")
	res.RequireExit(t, 1)
	contains(t, "unknown stream error", res.Stderr, `has no stream "peeple"; its streams: people`)
	wantEqual(t, "stdout of a failed read", res.Stdout, "")

	res = e2etest.RunCLI(t, env, "read", file)
	res.RequireExit(t, 2)
	contains(t, "missing --stream", res.Stderr, "--stream is required")

	if n := p.dst.Int64(t, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'`); n != 0 {
		t.Errorf("read created %d destination tables", n)
	}

	cl := e2etest.StartCluster(t, e2etest.ClusterOptions{Workers: 1})
	res = e2etest.RunCLI(t, cl.Env(), "-o", "json", "read", file, "--stream", "people", "--limit", "2500")
	res.RequireExit(t, 0)
	rows = jsonLines(t, res.Stdout)
	wantEqual(t, "rows through a coordinator", len(rows), 2500)
	wantEqual(t, "last row's id", rows[len(rows)-1]["id"], any(float64(2500)))
}
