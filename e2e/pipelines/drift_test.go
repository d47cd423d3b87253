package pipelines

import (
	"encoding/json"
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// checkJSON is `rapidbyte check -o json` output.
type checkJSON struct {
	OK    bool `json:"ok"`
	Items []struct {
		Name    string           `json:"name"`
		OK      bool             `json:"ok"`
		Message string           `json:"message"`
		Error   *e2etest.Failure `json:"error"`
	} `json:"items"`
}

func runCheck(t *testing.T, env e2etest.Env, file string, exit int) checkJSON {
	t.Helper()
	res := e2etest.RunCLI(t, env, "check", "-o", "json", file)
	res.RequireExit(t, exit)
	var c checkJSON
	if err := json.Unmarshal([]byte(res.Stdout), &c); err != nil {
		t.Fatalf("check output is not JSON: %v\n%s", err, res)
	}
	return c
}

func (c checkJSON) destination(t *testing.T) (bool, string) {
	t.Helper()
	for _, it := range c.Items {
		if it.Name == "destination" {
			if it.Error != nil {
				return it.OK, it.Message + " " + it.Error.Message
			}
			return it.OK, it.Message
		}
	}
	t.Fatalf("no destination item in %+v", c)
	return false, ""
}

// TestSchemaDriftCheckAndRun changes the source table between runs on
// every axis: `check` reports the drift before any row moves (failing
// where a policy is fail), and the run applies the policies.
func TestSchemaDriftCheckAndRun(t *testing.T) {
	p := newPair(t, "drift")
	p.src.Exec(t, `CREATE TABLE events (id bigint PRIMARY KEY, kind varchar(10) NOT NULL, qty integer, gone text);
INSERT INTO events SELECT i, 'k' || i, i, 'g' FROM generate_series(1, 100) i`)
	env := e2etest.NewEmbeddedEnv(t)
	pl := func(policies map[string]any) string {
		x := p.pipeline("e2e_drift", "raw", "append", e2etest.Stream{Name: "events"})
		x.DestinationPolicies = map[string]any{"schema_evolution": policies}
		return x.Write(t)
	}
	first := pl(map[string]any{})
	ok, msg := runCheck(t, env, first, 0).destination(t)
	if !ok {
		t.Fatalf("check before the first run: %s", msg)
	}
	contains(t, "check before the first run", msg, "raw.events will be created")
	runOK(t, env, first)
	ok, msg = runCheck(t, env, first, 0).destination(t)
	if !ok {
		t.Fatalf("check after the first run: %s", msg)
	}
	contains(t, "check after the first run", msg, "raw.events: no schema drift")

	p.src.Exec(t, `ALTER TABLE events DROP COLUMN gone, ADD COLUMN extra text, ALTER qty TYPE bigint, ALTER kind TYPE varchar(40), ALTER kind DROP NOT NULL;
INSERT INTO events VALUES (101, NULL, 5000000000, 'e')`)

	strict := pl(map[string]any{"new_column": "fail", "removed_column": "fail", "type_change": "fail", "nullability_change": "fail"})
	ok, msg = runCheck(t, env, strict, 1).destination(t)
	if ok {
		t.Fatalf("check with fail policies passed: %s", msg)
	}
	for _, s := range []string{`new_column "extra"`, `removed_column "gone"`, `type_change "qty" (integer -> bigint): fail`,
		`type_change "kind" (character varying(10) -> character varying(40)): fail`, `nullability_change "kind" (NOT NULL -> NULL): fail`} {
		contains(t, "strict check", msg, s)
	}
	res := e2etest.RunCLI(t, env, "run", "-o", "json", strict)
	res.RequireExit(t, 1)
	if rr := res.MustRunJSON(t); rr.Error == nil || rr.Error.Category != "schema" {
		t.Fatalf("strict run error = %+v, want category schema\n%s", rr.Error, res)
	}
	wantEqual(t, "rows after the strict run", p.dst.Count(t, "raw.events"), 100)

	lenient := pl(map[string]any{"new_column": "add", "removed_column": "ignore", "type_change": "coerce", "nullability_change": "allow"})
	ok, msg = runCheck(t, env, lenient, 0).destination(t)
	if !ok {
		t.Fatalf("lenient check failed: %s", msg)
	}
	contains(t, "lenient check", msg, `type_change "qty" (integer -> bigint): coerce: widen the column`)
	rr, _ := runOK(t, env, lenient)
	wantEqual(t, "records_written", rr.RecordsWritten, 101)
	wantEqual(t, "column types", join(p.dst.ColumnTypes(t, "raw", "events")), "bigint, character varying(40), bigint, text, text")
	wantEqual(t, "new row", join(p.dst.Strings(t, "SELECT coalesce(kind, 'NULL') || ',' || qty || ',' || extra || ',' || coalesce(gone, 'NULL') FROM raw.events WHERE id = 101")),
		"NULL,5000000000,e,NULL")
}
