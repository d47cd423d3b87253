package e2etest

import (
	"testing"
)

func TestBenchJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"json document", "{\"run_id\":\"a\"}\n", `{"run_id":"a"}`, false},
		{"text with marker", "Pipeline 'x' completed.\n  Run: a\n@@BENCH_JSON@@{\"run_id\":\"b\"}\n", `{"run_id":"b"}`, false},
		{"last marker wins", "@@BENCH_JSON@@{\"run_id\":\"1\"}\n@@BENCH_JSON@@{\"run_id\":\"2\"}", `{"run_id":"2"}`, false},
		{"no json", "Pipeline done\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BenchJSON(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("BenchJSON(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	rr, err := ParseRunResult(`{"run_id":"r","state":"FAILED","retry_count":2,"error":{"category":"auth","message":"m","retryable":false,"safe_to_retry":false}}`)
	if err != nil || rr.RunID != "r" || rr.RetryCount != 2 || rr.Error == nil || rr.Error.Category != "auth" {
		t.Errorf("ParseRunResult = %+v, %v", rr, err)
	}
}

func TestIdent(t *testing.T) {
	if got, want := Ident("public", `My "T"`), `"public"."My ""T"""`; got != want {
		t.Errorf("Ident = %s, want %s", got, want)
	}
}

// TestTableChecksum checks that checksums see NULL vs the string 'NULL',
// value changes, row order (when ordered by a key), and projections.
func TestTableChecksum(t *testing.T) {
	db := NewDatabase(t, "rb_e2a_selftest")
	db.Exec(t, `CREATE TABLE a (id int, v text, w int); CREATE TABLE b (LIKE a); CREATE TABLE c (LIKE a); CREATE TABLE d (LIKE a);
INSERT INTO a VALUES (1, NULL, 1), (2, 'x', 2);
INSERT INTO b VALUES (1, 'NULL', 1), (2, 'x', 2);
INSERT INTO c VALUES (2, 'x', 2), (1, NULL, 1);
INSERT INTO d VALUES (1, NULL, 9), (2, 'x', 9);`)
	sum := func(table, order string, cols ...string) Checksum { return TableChecksum(t, db, table, order, cols...) }
	if sum("a", "r.id", "id", "v") == sum("b", "r.id", "id", "v") {
		t.Error("NULL and 'NULL' give the same checksum")
	}
	if sum("a", "r.id") != sum("c", "r.id") || sum("a", "") != sum("c", "") {
		t.Error("same rows in another physical order differ")
	}
	if sum("a", "") == sum("d", "") {
		t.Error("different w values give the same checksum")
	}
	if sum("a", "r.id", "id", "v") != sum("d", "r.id", "id", "v") {
		t.Error("projection on equal columns differs")
	}
	if got := sum("a", "r.id").Count; got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
	if got := ColumnChecksums(t, db, "a", "r.id", "v", "w"); got["w"] == got["v"] {
		t.Errorf("ColumnChecksums = %v", got)
	}
}
