package dest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// driftRun writes the whole source table t with the given policies.
func driftRun(t *testing.T, src *pgclient.Conn, dst *pgclient.Conn, spec abi.StreamSpec) (Stats, error) {
	t.Helper()
	spec.Name, spec.Pipeline = "t", "p"
	return write(t, dst, Request{Stream: spec}, &input{r: readStream(t, src, abi.StreamSpec{Name: "t"}, nil, 100)})
}

// driftCase creates source table t with before, writes it once (creating
// and recording the destination table), applies change to the source and
// writes again with spec.
func driftCase(t *testing.T, before, change string, spec abi.StreamSpec) (*pgclient.Conn, Stats, error) {
	t.Helper()
	src := pgtest.Connect(t, pgtest.NewDB(t))
	dst := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, src, before)
	if _, err := driftRun(t, src, dst, abi.StreamSpec{}); err != nil {
		t.Fatalf("first write: %v", err)
	}
	pgtest.Exec(t, src, change)
	st, err := driftRun(t, src, dst, spec)
	return dst, st, err
}

func wantSchemaError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("err = %v, want a schema error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

func columnInfo(t *testing.T, dst *pgclient.Conn, col string) string {
	t.Helper()
	return fmt.Sprint(pgtest.QueryStrings(t, dst, fmt.Sprintf(`SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
		WHERE attrelid = 't'::regclass AND attname = '%s'`, col)))
}

func TestDriftRemovedColumn(t *testing.T) {
	const before = "CREATE TABLE t (id int, a text, b text); INSERT INTO t VALUES (1, 'a1', 'b1')"
	const change = "ALTER TABLE t DROP COLUMN b; INSERT INTO t VALUES (2, 'a2')"
	t.Run("ignore", func(t *testing.T) {
		dst, st, err := driftCase(t, before, change, abi.StreamSpec{RemovedColumn: "ignore"})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Drifts) != 1 || st.Drifts[0].String() != `removed_column "b" (text -> ): ignore` {
			t.Errorf("drifts = %v", st.Drifts)
		}
		if got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(b) FROM t WHERE id = 2")[0]; fmt.Sprint(got) != "[1 0]" {
			t.Errorf("new row: %v, want b NULL", got)
		}
	})
	t.Run("fail", func(t *testing.T) {
		dst, _, err := driftCase(t, before, change, abi.StreamSpec{RemovedColumn: "fail"})
		wantSchemaError(t, err, `removed_column "b"`, "fail")
		if n := pgtest.Count(t, dst, "t"); n != 1 {
			t.Errorf("%d rows, want only the first write's", n)
		}
	})
}

func TestDriftTypeChange(t *testing.T) {
	const before = "CREATE TABLE t (id int, v integer, w varchar(5)); INSERT INTO t VALUES (1, 1, 'abc')"
	const change = "ALTER TABLE t ALTER v TYPE bigint, ALTER w TYPE varchar(20); INSERT INTO t VALUES (2, 3000000000, 'a longer text')"
	t.Run("coerce widens", func(t *testing.T) {
		dst, _, err := driftCase(t, before, change, abi.StreamSpec{TypeChange: "coerce"})
		if err != nil {
			t.Fatal(err)
		}
		if got := columnInfo(t, dst, "v") + columnInfo(t, dst, "w"); got != "[[bigint f]][[character varying(20) f]]" {
			t.Errorf("columns = %s, want widened", got)
		}
		if got := pgtest.QueryStrings(t, dst, "SELECT v, w FROM t WHERE id = 2")[0]; fmt.Sprint(got) != "[3000000000 a longer text]" {
			t.Errorf("row 2 = %v", got)
		}
	})
	t.Run("coerce casts", func(t *testing.T) {
		// bigint -> integer is not a widening: values are cast to the
		// existing bigint column.
		dst, st, err := driftCase(t, "CREATE TABLE t (id int, v bigint); INSERT INTO t VALUES (1, 1)",
			"ALTER TABLE t ALTER v TYPE integer; INSERT INTO t VALUES (2, 7)", abi.StreamSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Drifts) != 1 || st.Drifts[0].Widen || columnInfo(t, dst, "v") != "[[bigint f]]" {
			t.Errorf("drifts %v, column %s", st.Drifts, columnInfo(t, dst, "v"))
		}
	})
	t.Run("coerce rejects what does not fit", func(t *testing.T) {
		// varchar(20) -> text is a widening of the source, but the
		// destination column is user-narrowed (varchar(5)): values are
		// cast and a too-long one is a data error under on_data_error.
		src := pgtest.Connect(t, pgtest.NewDB(t))
		dst := pgtest.Connect(t, pgtest.NewDB(t))
		pgtest.Exec(t, src, "CREATE TABLE t (id int, w varchar(20)); INSERT INTO t VALUES (1, 'abc')")
		pgtest.Exec(t, dst, "CREATE TABLE t (id int, w varchar(5))")
		if _, err := driftRun(t, src, dst, abi.StreamSpec{}); err != nil {
			t.Fatal(err)
		}
		pgtest.Exec(t, src, "ALTER TABLE t ALTER w TYPE text; INSERT INTO t VALUES (2, 'too long for five')")
		st, err := driftRun(t, src, dst, abi.StreamSpec{OnDataError: OnErrorSkip})
		if err != nil || st.Failed != 1 || st.Records != 1 {
			t.Fatalf("stats %+v, err %v: want 1 written and 1 rejected", st, err)
		}
	})
	t.Run("fail", func(t *testing.T) {
		_, _, err := driftCase(t, before, change, abi.StreamSpec{TypeChange: "fail"})
		wantSchemaError(t, err, `type_change "v" (integer -> bigint): fail`, `type_change "w" (character varying(5) -> character varying(20)): fail`)
	})
	t.Run("null", func(t *testing.T) {
		dst, _, err := driftCase(t, before, change, abi.StreamSpec{TypeChange: "null"})
		if err != nil {
			t.Fatal(err)
		}
		if got := pgtest.QueryStrings(t, dst, "SELECT count(*), count(v), count(w) FROM t WHERE id = 2")[0]; fmt.Sprint(got) != "[1 0 0]" {
			t.Errorf("row 2 = %v, want v and w NULL", got)
		}
		if got := columnInfo(t, dst, "v"); got != "[[integer f]]" {
			t.Errorf("column v = %s, want unchanged", got)
		}
	})
}

func TestDriftNullabilityChange(t *testing.T) {
	const before = "CREATE TABLE t (id int, v text NOT NULL); INSERT INTO t VALUES (1, 'x')"
	const change = "ALTER TABLE t ALTER v DROP NOT NULL; INSERT INTO t VALUES (2, NULL)"
	t.Run("allow", func(t *testing.T) {
		dst, _, err := driftCase(t, before, change, abi.StreamSpec{NullabilityChange: "allow"})
		if err != nil {
			t.Fatal(err)
		}
		if got := columnInfo(t, dst, "v"); got != "[[text f]]" {
			t.Errorf("column v = %s, want NOT NULL dropped", got)
		}
		if n := pgtest.Count(t, dst, "t WHERE id = 2 AND v IS NULL"); n != 1 {
			t.Errorf("null row count = %d", n)
		}
	})
	t.Run("fail", func(t *testing.T) {
		dst, _, err := driftCase(t, before, change, abi.StreamSpec{NullabilityChange: "fail"})
		wantSchemaError(t, err, `nullability_change "v" (NOT NULL -> NULL): fail`)
		if got := columnInfo(t, dst, "v"); got != "[[text t]]" {
			t.Errorf("column v = %s, want still NOT NULL", got)
		}
	})
}

func TestDriftEveryFailAtOnce(t *testing.T) {
	_, _, err := driftCase(t, "CREATE TABLE t (id int, a int NOT NULL, b text); INSERT INTO t VALUES (1, 1, 'x')",
		"ALTER TABLE t DROP COLUMN b, ALTER a TYPE bigint, ALTER a DROP NOT NULL, ADD COLUMN c int",
		abi.StreamSpec{NewColumn: "fail", RemovedColumn: "fail", TypeChange: "fail", NullabilityChange: "fail"})
	wantSchemaError(t, err, `new_column "c"`, `removed_column "b"`, `type_change "a"`, `nullability_change "a"`)
}
