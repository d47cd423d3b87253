package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// copyBatches writes the sink's batches into table dst through the binary
// COPY encoder.
func copyBatches(t *testing.T, conn *pgclient.Conn, s *memSink, dst string) {
	t.Helper()
	ctx := context.Background()
	tab, ok, err := pgcatalog.Lookup(ctx, conn, "public", dst)
	if err != nil || !ok {
		t.Fatalf("lookup %s: %v %v", dst, ok, err)
	}
	var dstTypes, srcTypes []pgarrow.Type
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		c, _, ok := tab.Column(f.Name)
		if !ok {
			t.Fatalf("no column %q in %s", f.Name, dst)
		}
		st, err := pgarrow.ParseArrow(f.Type)
		if err != nil {
			t.Fatal(err)
		}
		dstTypes, srcTypes, names[i] = append(dstTypes, c.Type), append(srcTypes, st), f.Name
	}
	enc, err := pgarrow.NewEncoder(dstTypes, srcTypes)
	if err != nil {
		t.Fatalf("encoder: %v", err)
	}
	buf := pgarrow.AppendCopyHeader(nil)
	for _, b := range s.batches {
		readers := make([]pgarrow.Reader, len(b))
		for i, c := range b {
			readers[i] = c
		}
		if buf, err = enc.AppendRows(buf, readers, 0, len(b[0].Vals)); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	buf = pgarrow.AppendCopyTrailer(buf)
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", pgsql.Qualified("public", dst), pgsql.Idents(names))
	msg := append(make([]byte, pgclient.CopyDataHeader), buf...)
	if err := conn.CopyFrom(ctx, sql, func(send func([]byte) error) error { return send(msg) }); err != nil {
		t.Fatalf("copy: %v", err)
	}
}

func TestReadAllTypesRoundTrip(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, pgtest.AllTypesSQL)
	pgtest.Exec(t, conn, "CREATE TABLE public.copy_types (LIKE public.all_types)")
	pgtest.Exec(t, conn, "ALTER TABLE public.copy_types ALTER COLUMN c_point TYPE text")

	sink := &memSink{maxRows: 4}
	st, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "all_types"}}, sink)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if st.Records != 6 || sink.rows() != 6 {
		t.Fatalf("records = %d, rows = %d, want 6", st.Records, sink.rows())
	}
	if got := len(sink.batches); got != 2 {
		t.Errorf("batches = %d, want 2 (4-row bound)", got)
	}
	last := sink.checkpoints[len(sink.checkpoints)-1]
	if last.CursorField != "id" || last.CursorValue == nil || *last.CursorValue.Int != 6 || last.Records != 6 {
		t.Errorf("last checkpoint = %+v, want cursor id=6 records=6", last)
	}
	copyBatches(t, conn, sink, "copy_types")
	for _, col := range append([]string{"id"}, pgtest.AllTypesColumns...) {
		q := func(table string) string {
			return pgtest.QueryStrings(t, conn, fmt.Sprintf(
				"SELECT md5(string_agg(coalesce(%s::text, '<NULL>'), '|' ORDER BY id)) FROM public.%s", pgsql.Ident(col), table))[0][0]
		}
		if a, b := q("all_types"), q("copy_types"); a != b {
			t.Errorf("column %q differs after round trip", col)
			t.Log(pgtest.QueryStrings(t, conn, fmt.Sprintf("SELECT a.id, a.%[1]s::text, b.%[1]s::text FROM all_types a JOIN copy_types b USING (id) WHERE a.%[1]s::text IS DISTINCT FROM b.%[1]s::text", pgsql.Ident(col))))
		}
	}
}

func TestReadFields(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, pgtest.AllTypesSQL)
	sink := &memSink{maxRows: 100}
	if _, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "all_types",
		Columns: []string{"c_num", "c_num60", "c_numu", "c_tstz", "c_mood", "c_num_arr", "c_point", "c_jsonb", "select"}}}, sink); err != nil {
		t.Fatal(err)
	}
	want := []abi.Field{
		{Name: "c_num", Type: "decimal128(12, 2)", Nullable: true, SourceType: "numeric(12,2)"},
		{Name: "c_num60", Type: "decimal256(60, 20)", Nullable: true, SourceType: "numeric(60,20)"},
		{Name: "c_numu", Type: "utf8", Nullable: true, SourceType: "numeric"},
		{Name: "c_tstz", Type: "timestamp[us, UTC]", Nullable: true, SourceType: "timestamp with time zone"},
		{Name: "c_mood", Type: "utf8", Nullable: true, SourceType: "mood"},
		{Name: "c_num_arr", Type: "list<decimal128(10, 3)>", Nullable: true, SourceType: "numeric(10,3)[]"},
		{Name: "c_point", Type: "utf8", Nullable: true, SourceType: "point"},
		{Name: "c_jsonb", Type: "utf8", Nullable: true, SourceType: "jsonb"},
		{Name: "select", Type: "int32", Nullable: true, SourceType: "integer"},
	}
	if d := cmp.Diff(want, sink.fields); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	for _, f := range sink.fields {
		if _, err := abi.ParseType(f.Type); err != nil {
			t.Errorf("field %q: %v", f.Name, err)
		}
	}
}

func seq(t *testing.T, conn *pgclient.Conn, ddl string, n int) {
	t.Helper()
	pgtest.Exec(t, conn, ddl)
	pgtest.Exec(t, conn, fmt.Sprintf("INSERT INTO t SELECT i, 'v' || i, timestamptz '2024-01-01' + (i / 3) * interval '1 hour' FROM generate_series(1, %d) i", n))
}

func TestReadKeysetResume(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint PRIMARY KEY, v text, ts timestamptz)", 1000)
	spec := abi.StreamSpec{Name: "t", Limits: abi.Limits{CheckpointIntervalRows: 200}}
	first := &memSink{maxRows: 100, failAfter: 5}
	if _, err := Read(context.Background(), conn, Request{Stream: spec}, first); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt err = %v, want injected failure", err)
	}
	if len(first.checkpoints) != 2 {
		t.Fatalf("checkpoints before failure = %d, want 2", len(first.checkpoints))
	}
	resume := first.checkpoints[1]
	if *resume.CursorValue.Int != 400 || resume.Records != 400 {
		t.Fatalf("resume checkpoint = %+v", resume)
	}
	second := &memSink{maxRows: 100}
	if _, err := Read(context.Background(), conn, Request{Stream: spec, Resume: &resume}, second); err != nil {
		t.Fatal(err)
	}
	ids := second.column(0)
	if len(ids) != 600 || ids[0] != int64(401) || ids[599] != int64(1000) {
		t.Fatalf("resumed read: %d rows, first %v last %v", len(ids), ids[0], ids[len(ids)-1])
	}
	if last := second.checkpoints[len(second.checkpoints)-1]; last.Records != 1000 {
		t.Errorf("final records = %d, want 1000 (cumulative)", last.Records)
	}
}

// TestReadKeylessScansSequentially checks the plan of a whole keyless
// table: a plain sequential scan, neither synchronized (it would start
// wherever another scan of the table is) nor parallel (workers interleave
// their pages), so rows come in ctid order from the first block, which is
// what the ctid checkpoints assume.
func TestReadKeylessScansSequentially(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint, v text, ts timestamptz)", 5000)
	pgtest.Exec(t, conn, "ANALYZE t")
	// Make a parallel plan the planner's choice for this small table.
	pgtest.Exec(t, conn, "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
	ctx := context.Background()
	tab, ok, err := pgcatalog.Lookup(ctx, conn, "public", "t")
	if err != nil || !ok {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	p, err := buildPlan(ctx, conn, tab, &abi.StreamSpec{Name: "t"}, nil, OrderKey)
	if err != nil {
		t.Fatal(err)
	}
	plan := func(setup string) string {
		t.Helper()
		pgtest.Exec(t, conn, "BEGIN")
		defer pgtest.Exec(t, conn, "ROLLBACK")
		if setup != "" {
			pgtest.Exec(t, conn, setup)
		}
		var lines []string
		for _, r := range pgtest.QueryStrings(t, conn, "EXPLAIN "+p.sql) {
			lines = append(lines, r[0])
		}
		lines = append(lines, "synchronize_seqscans="+pgtest.QueryStrings(t, conn, "SHOW synchronize_seqscans")[0][0])
		return strings.Join(lines, "\n")
	}
	if without := plan(""); !strings.Contains(without, "Gather") {
		t.Fatalf("without the read's settings the plan is not parallel, so this test proves nothing:\n%s", without)
	}
	got := plan(p.setup)
	if !strings.HasPrefix(got, "Seq Scan on t") || strings.Contains(got, "Gather") || !strings.HasSuffix(got, "synchronize_seqscans=off") {
		t.Errorf("plan of a whole keyless table:\n%s\nwant a plain, unsynchronized Seq Scan", got)
	}
	if strings.Contains(p.sql, "ctid >=") || strings.Contains(p.sql, "ORDER BY") {
		t.Errorf("query %q: want no ctid condition and no ORDER BY", p.sql)
	}
}

// TestReadPhysicalOrder reads a table with a primary key with
// full_refresh_order physical: a sequential scan (no ORDER BY, no index),
// ctid checkpoints, and a retry from one that reads the rest exactly once;
// partitions keep their key order.
func TestReadPhysicalOrder(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint PRIMARY KEY, v text, ts timestamptz)", 5000)
	first := &memSink{maxRows: 1000, failAfter: 2}
	st, _ := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "t"}, Order: OrderPhysical}, first)
	if strings.Contains(st.SQL, "ORDER BY") || strings.Contains(st.SQL, "WHERE") {
		t.Errorf("query %q: want a whole-table scan without ORDER BY", st.SQL)
	}
	if len(first.checkpoints) != 2 || first.checkpoints[1].CursorField != "ctid" {
		t.Fatalf("checkpoints = %+v, want ctid positions", first.checkpoints)
	}
	second := &memSink{maxRows: 1000}
	cp := first.checkpoints[1]
	st, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "t"}, Resume: &cp, Order: OrderPhysical}, second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.SQL, "ctid >") {
		t.Errorf("retry query %q: want it to resume after the ctid", st.SQL)
	}
	got := append(first.column(0), second.column(0)...)
	seen := map[int64]bool{}
	for _, v := range got {
		seen[v.(int64)] = true
	}
	if len(got) != 5000 || len(seen) != 5000 {
		t.Fatalf("physical order with a retry: %d rows, %d distinct, want 5000 each", len(got), len(seen))
	}
	// A partition reads its share by key, whatever the order asked.
	part := &memSink{maxRows: 1000}
	spec := abi.StreamSpec{Name: "t", Partition: &abi.Partition{Index: 0, Count: 2}}
	if st, err = Read(context.Background(), conn, Request{Stream: spec, Order: OrderPhysical}, part); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.SQL, "ORDER BY") || part.checkpoints[len(part.checkpoints)-1].CursorField != "id" {
		t.Errorf("partition query %q, checkpoint %+v: want key order", st.SQL, part.checkpoints[len(part.checkpoints)-1])
	}
	if _, err := ParseOrder("random"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseOrder(random) = %v, want ErrConfig", err)
	}
}

func TestReadCtidKeysetAndPartitions(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint, v text, ts timestamptz)", 5000)
	// Keyless: ctid keyset, resumable.
	first := &memSink{maxRows: 1000, failAfter: 2}
	_, _ = Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "t"}}, first)
	if len(first.checkpoints) != 2 || first.checkpoints[1].CursorField != "ctid" {
		t.Fatalf("checkpoints = %+v", first.checkpoints)
	}
	second := &memSink{maxRows: 1000}
	cp := first.checkpoints[1]
	if _, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "t"}, Resume: &cp}, second); err != nil {
		t.Fatal(err)
	}
	got := append(first.column(0), second.column(0)...)
	if len(got) != 5000 || got[0] != int64(1) || got[1999] != int64(2000) || got[2000] != int64(2001) {
		t.Fatalf("ctid resume: %d rows", len(got))
	}
	// Partitions: key ranges and ctid ranges both cover every row once.
	for _, key := range []string{"id", ""} {
		seen := map[int64]int{}
		for i := uint32(0); i < 3; i++ {
			s := &memSink{maxRows: 1000}
			spec := abi.StreamSpec{Name: "t", Partition: &abi.Partition{Index: i, Count: 3, Key: key}}
			if _, err := Read(context.Background(), conn, Request{Stream: spec}, s); err != nil {
				t.Fatalf("partition %d key %q: %v", i, key, err)
			}
			if s.rows() == 0 && key == "id" {
				t.Errorf("partition %d empty", i)
			}
			for _, v := range s.column(0) {
				seen[v.(int64)]++
			}
		}
		if len(seen) != 5000 {
			t.Errorf("key %q: %d distinct ids, want 5000", key, len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("key %q: id %d read %d times", key, id, n)
			}
		}
	}
}

func TestReadIncremental(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint PRIMARY KEY, v text, ts timestamptz)", 30)
	pgtest.Exec(t, conn, "INSERT INTO t VALUES (100, 'null cursor', NULL)")
	spec := abi.StreamSpec{Name: "t", SyncMode: ModeIncremental, CursorField: "ts", TieBreakerField: "id", Columns: []string{"v"}}
	s := &memSink{maxRows: 7}
	if _, err := Read(context.Background(), conn, Request{Stream: spec}, s); err != nil {
		t.Fatal(err)
	}
	if s.rows() != 30 {
		t.Fatalf("rows = %d, want 30 (NULL cursor excluded)", s.rows())
	}
	// Resume in the middle of a group of equal cursor values (ids 9,10,11 share ts).
	ts := int64(1704067200000000 + 3*3600*1000000) // 2024-01-01 03:00 UTC: ids 9, 10, 11
	id := int64(9)
	cp := abi.Checkpoint{CursorField: "ts", CursorValue: &abi.CursorValue{TimestampMicros: &ts},
		TieBreakerField: "id", TieBreakerValue: &abi.CursorValue{Int: &id}}
	s2 := &memSink{maxRows: 100}
	if _, err := Read(context.Background(), conn, Request{Stream: spec, Resume: &cp}, s2); err != nil {
		t.Fatal(err)
	}
	vals := s2.column(0)
	if len(vals) != 21 || string(vals[0].([]byte)) != "v10" {
		t.Fatalf("resumed incremental: %d rows, first %q", len(vals), vals[0])
	}
	last := s2.checkpoints[len(s2.checkpoints)-1]
	if *last.CursorValue.TimestampMicros != 1704067200000000+10*3600*1000000 || *last.TieBreakerValue.Int != 30 {
		t.Errorf("last checkpoint = %v / %v", *last.CursorValue.TimestampMicros, *last.TieBreakerValue.Int)
	}
}

func TestReadErrors(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, "CREATE TABLE t (id int, ts timestamp)")
	pgtest.Exec(t, conn, "INSERT INTO t VALUES (1, '294270-01-01')")
	ctx := context.Background()
	if _, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "missing"}}, &memSink{maxRows: 10}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing table: %v", err)
	}
	if _, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "t", Columns: []string{"nope"}}}, &memSink{maxRows: 10}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing column: %v", err)
	}
	if _, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "t", SyncMode: ModeIncremental}}, &memSink{maxRows: 10}); !errors.Is(err, ErrConfig) {
		t.Errorf("incremental without cursor: %v", err)
	}
	var de *DataError
	if _, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "t"}}, &memSink{maxRows: 10}); !errors.As(err, &de) || de.Column != "ts" {
		t.Errorf("out-of-range timestamp: %v", err)
	}
	for _, tc := range []struct{ typ, value string }{
		{"int[]", "'{{1,2},{3,4}}'"},
		{"interval", "'2562048 hours'"},
		{"numeric(10,2)", "'NaN'"},
	} {
		pgtest.Exec(t, conn, fmt.Sprintf("DROP TABLE IF EXISTS bad; CREATE TABLE bad (c %s); INSERT INTO bad VALUES (%s)", tc.typ, tc.value))
		if _, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "bad"}}, &memSink{maxRows: 10}); !errors.As(err, &de) || de.Column != "c" {
			t.Errorf("%s %s: err = %v, want a data error", tc.typ, tc.value, err)
		}
	}
	if c := pgclient.Classify(pgclient.Exec(ctx, conn, "SELECT * FROM nope")); c.Category != abi.CategoryConfig {
		t.Errorf("undefined table class = %+v", c)
	}
}

func TestDiscover(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, pgtest.AllTypesSQL)
	pgtest.Exec(t, conn, `CREATE SCHEMA "Other Schema"; CREATE TABLE "Other Schema"."Weird ""T""" (a text, b int, PRIMARY KEY (b, a)); CREATE VIEW v AS SELECT 1`)
	cat, err := Discover(context.Background(), conn, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 2 {
		t.Fatalf("streams = %d, want 2 (views excluded)", len(cat.Streams))
	}
	w := cat.Streams[0]
	if w.Namespace != "Other Schema" || w.Name != `Weird "T"` || !cmp.Equal(w.SourceDefinedPrimaryKey, []string{"b", "a"}) {
		t.Errorf("stream 0 = %+v", w)
	}
	a := cat.Streams[1]
	if len(a.Columns) != 35 || a.Columns[0].Name != "id" || a.Columns[0].Nullable || !cmp.Equal(a.SourceDefinedPrimaryKey, []string{"id"}) {
		t.Errorf("all_types: %d columns, first %+v, pk %v", len(a.Columns), a.Columns[0], a.SourceDefinedPrimaryKey)
	}
	want := []string{"id", "c_int2", "c_int4", "c_int8", "c_num", "c_num38", "c_num60", "c_numu", "c_date", "c_ts", "c_tstz", "select"}
	if d := cmp.Diff(want, a.CursorCandidates); d != "" {
		t.Errorf("cursor candidates (-want +got):\n%s", d)
	}
	only, err := Discover(context.Background(), conn, "public", nil)
	if err != nil || len(only.Streams) != 1 {
		t.Errorf("schema filter: %d streams, %v", len(only.Streams), err)
	}
}

// TestDiscoverNamed: a discover by name reads only the named tables, names
// PostgreSQL would need quoted included, and leaves out a name with no table.
func TestDiscoverNamed(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, `CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int); CREATE TABLE "c, ""d""" (id int PRIMARY KEY);
INSERT INTO a SELECT generate_series(1, 1000); ANALYZE`)
	cat, err := Discover(context.Background(), conn, "public", []string{`c, "d"`, "a", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cat.Streams {
		got = append(got, s.Name)
	}
	if d := cmp.Diff([]string{"a", `c, "d"`}, got); d != "" {
		t.Errorf("streams (-want +got):\n%s", d)
	}
	if len(cat.Streams) == 2 && (!cmp.Equal(cat.Streams[0].SourceDefinedPrimaryKey, []string{"id"}) || cat.Streams[0].EstimatedBytes == 0) {
		t.Errorf("stream a = %+v, want its primary key and size", cat.Streams[0])
	}
	all, err := Discover(context.Background(), conn, "public", nil)
	if err != nil || len(all.Streams) != 3 {
		t.Errorf("no names: %d streams, %v; want all 3", len(all.Streams), err)
	}
}

// cancelSink cancels the read's context when the first batch is emitted.
type cancelSink struct {
	memSink
	cancel context.CancelFunc
}

func (s *cancelSink) Emit(ctx context.Context) error {
	s.cancel()
	return s.memSink.Emit(ctx)
}

func TestReadCancel(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	seq(t, conn, "CREATE TABLE t (id bigint PRIMARY KEY, v text, ts timestamptz)", 200000)
	ctx, cancel := context.WithCancel(context.Background())
	s := &cancelSink{memSink: memSink{maxRows: 1000}, cancel: cancel}
	_, err := Read(ctx, conn, Request{Stream: abi.StreamSpec{Name: "t"}}, s)
	if err == nil || pgclient.Classify(err).Category != abi.CategoryCancelled {
		t.Fatalf("err = %v (class %+v), want cancelled", err, pgclient.Classify(err))
	}
	if s.rows() >= 200000 {
		t.Errorf("read everything (%d rows) despite the cancel", s.rows())
	}
}

// TestKeyPartitionsStableUnderConcurrentChange: partitions start at
// different moments while rows are inserted above the maximum and the
// minimum is deleted; a row that exists throughout (and keeps its key) is
// read by exactly one partition. Negative keys and NULL keys are covered
// too. (Ranges between per-partition min and max lost or doubled rows here.)
func TestKeyPartitionsStableUnderConcurrentChange(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, conn, `CREATE TABLE t (id bigint PRIMARY KEY, v text);
INSERT INTO t SELECT i, 'v' FROM generate_series(-50, 1000) i;
CREATE TABLE n (k int, v text); INSERT INTO n SELECT CASE WHEN i % 10 = 0 THEN NULL ELSE i END, 'v' FROM generate_series(1, 100) i`)
	const parts = 4
	seen := map[int64]int{}
	for i := uint32(0); i < parts; i++ {
		s := &memSink{maxRows: 1000}
		if _, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "t", Partition: &abi.Partition{Index: i, Count: parts}}}, s); err != nil {
			t.Fatal(err)
		}
		for _, v := range s.column(0) {
			seen[v.(int64)]++
		}
		// Between partition starts: the key range grows and shrinks.
		pgtest.Exec(t, conn, fmt.Sprintf(`INSERT INTO t SELECT i, 'new' FROM generate_series(%d, %d) i; DELETE FROM t WHERE id = %d`,
			1001+int(i)*500, 1500+int(i)*500, -50+int(i)))
	}
	for id := int64(-46); id <= 1000; id++ {
		if seen[id] != 1 {
			t.Errorf("id %d read %d times, want once", id, seen[id])
		}
	}
	total, nulls := 0, 0
	for i := uint32(0); i < 3; i++ {
		s := &memSink{maxRows: 1000}
		if _, err := Read(context.Background(), conn, Request{Stream: abi.StreamSpec{Name: "n", Partition: &abi.Partition{Index: i, Count: 3, Key: "k"}}}, s); err != nil {
			t.Fatal(err)
		}
		total += s.rows()
		for _, v := range s.column(0) {
			if v == nil {
				nulls++
			}
		}
	}
	if total != 100 || nulls != 10 {
		t.Errorf("nullable key partitions: %d rows, %d NULL keys; want 100, 10", total, nulls)
	}
}

// TestPartitionSnapshotGoneFallsBack: a partition whose snapshot holder is
// gone (a retried partition) reads a snapshot of its own.
func TestPartitionSnapshotGoneFallsBack(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.NewDB(t))
	pgtest.Exec(t, conn, `CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)`)
	s := &memSink{maxRows: 1000}
	spec := abi.StreamSpec{Name: "t", Partition: &abi.Partition{Index: 1, Count: 2, Snapshot: "00000004-0000000A-1"}}
	if _, err := Read(context.Background(), conn, Request{Stream: spec}, s); err != nil || s.rows() != 50 {
		t.Fatalf("read with a gone snapshot: %d rows, %v; want 50", s.rows(), err)
	}
}

// TestDiscoverEstimatesSizes: after ANALYZE each stream carries its
// table's size, a partitioned table the sum of its partitions'; a table
// whose pages the catalog does not know yet counts 0.
func TestDiscoverEstimatesSizes(t *testing.T) {
	cfg := pgtest.NewDB(t)
	conn := pgtest.Connect(t, cfg)
	pgtest.Exec(t, conn, `CREATE TABLE big (id int, v text);
INSERT INTO big SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i;
CREATE TABLE small (id int);
INSERT INTO small SELECT generate_series(1, 10);
CREATE TABLE parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10000);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (10000) TO (20001);
INSERT INTO parted SELECT i, repeat('y', 200) FROM generate_series(1, 20000) i;
ANALYZE`)
	cat, err := Discover(context.Background(), conn, "public", nil)
	if err != nil {
		t.Fatal(err)
	}
	size := map[string]uint64{}
	for _, s := range cat.Streams {
		size[s.Name] = s.EstimatedBytes
	}
	if len(size) != 3 {
		t.Fatalf("streams %v, want big, small and parted (partitions are not streams)", size)
	}
	// 20,000 rows of ~230 bytes: over 4 MB; 10 int rows: one 8 KiB page.
	if size["big"] < 4<<20 || size["small"] > 64<<10 || size["parted"] < 4<<20 {
		t.Errorf("estimated bytes %v: want big and parted over 4 MiB, small under 64 KiB", size)
	}

	// The estimate reads the catalog only: a table another session holds
	// ACCESS EXCLUSIVE does not block discovery.
	locker := pgtest.Connect(t, cfg)
	pgtest.Exec(t, locker, "BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Discover(ctx, conn, "public", nil); err != nil {
		t.Fatalf("discover beside a locked table: %v", err)
	}
}
