package pipeline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseSource: discovery needs only version, pipeline and source; a
// destination's variables are neither needed nor checked.
func TestParseSource(t *testing.T) {
	const onlySource = `version: "1.0"
pipeline: p
source:
  use: source-postgres
  config: {host: h, password: "${SRC_PW}"}
`
	p, err := ParseSource([]byte(onlySource), vars("SRC_PW", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "p" || p.Source.Use.ID != "source-postgres" || len(p.Source.Streams) != 0 {
		t.Fatalf("parsed %+v", p)
	}
	if _, err := Parse([]byte(onlySource), vars("SRC_PW", "x")); err == nil {
		t.Fatal("Parse accepted a pipeline without destination and streams")
	}
	withDest := onlySource + "destination: {use: dest-postgres, config: {password: \"${DST_PW}\"}}\n"
	p, err = ParseSource([]byte(withDest), vars("SRC_PW", "x"))
	if err != nil {
		t.Fatalf("ParseSource needs the destination's variable: %v", err)
	}
	res, err := p.Resolve(vars("SRC_PW", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Source["password"] != "x" {
		t.Errorf("resolved source config %v", res.Source)
	}
	if got := problemsOfSource(t, strings.Replace(onlySource, "use: source-postgres", "usе: x", 1)); len(got) == 0 {
		t.Error("ParseSource accepted a source without use")
	}
}

func problemsOfSource(t *testing.T, src string) []string {
	t.Helper()
	_, err := ParseSource([]byte(src), nil)
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestParsePatterns(t *testing.T) {
	y := edit(t, "    - name: users\n", `    - {name: "public.*", exclude: [public.tmp_*, audit], sync_mode: incremental, cursor_field: id}
    - name: users
    - {name: "sales.order_?"}
`)
	p, err := Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Source.Streams
	if got[0].Pattern != "public.*" || got[0].Name != "" || got[0].Namespace != "" ||
		!cmp.Equal(got[0].Exclude, []string{"public.tmp_*", "audit"}) || got[0].CursorField != "id" {
		t.Errorf("pattern entry = %+v", got[0])
	}
	if got[2].Pattern != "sales.order_?" {
		t.Errorf("second pattern = %+v", got[2])
	}
	if !p.HasPatterns() {
		t.Error("HasPatterns = false")
	}

	for _, tc := range []struct{ stream, want string }{
		{`{name: "public.[", sync_mode: full_refresh}`, `invalid stream pattern "public.["`},
		{`{name: users, exclude: [a]}`, `exclude needs a pattern name`},
		{`{name: "public.*", destination_table: x}`, `cannot name one destination table`},
		{`{name: "public.*", exclude: ["["]}`, `invalid exclude pattern "["`},
	} {
		probs := problemsOf(t, strings.Replace(minimal, "name: users", tc.stream, 1), nil)
		if !strings.Contains(strings.Join(probs, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.stream, probs, tc.want)
		}
	}
	dup := edit(t, "    - name: users\n", "    - name: \"a*\"\n    - name: \"a*\"\n")
	if probs := problemsOf(t, dup, nil); !strings.Contains(strings.Join(probs, "\n"), `duplicate stream pattern "a*"`) {
		t.Errorf("duplicate pattern: %q", probs)
	}
}

func TestExpand(t *testing.T) {
	tables := []Table{
		{"public", "t10"}, {"public", "t2"}, {"public", "t1"}, {"public", "users"},
		{"public", "tmp_x"}, {"sales", "order_1"}, {"sales", "order_22"}, {"sales", "refund"},
	}
	p := &Pipeline{Source: Source{Streams: []StreamConfig{
		{Name: "users", SyncMode: SyncIncremental, CursorField: "id"},
		{Pattern: "public.*", Exclude: []string{"tmp_*"}, SyncMode: SyncFullRefresh, Columns: []string{"id"}},
		{Pattern: "sales.order_*", Namespace: "sales"},
	}}}
	out, sels, err := Expand(p, tables)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, s := range out.Source.Streams {
		gotNames = append(gotNames, s.Namespace+"."+s.Name)
		if s.Pattern != "" || s.Exclude != nil {
			t.Errorf("expanded stream %+v keeps its pattern", s)
		}
	}
	want := []string{".users", "public.t1", "public.t2", "public.t10", "sales.order_1", "sales.order_22"}
	if !cmp.Equal(gotNames, want) {
		t.Errorf("streams = %q, want %q", gotNames, want)
	}
	if s := out.Source.Streams[1]; s.SyncMode != SyncFullRefresh || !cmp.Equal(s.Columns, []string{"id"}) {
		t.Errorf("expanded stream lost the entry's settings: %+v", s)
	}
	if len(sels) != 5 || sels[0] != (Selection{Pattern: "public.*", Table: Table{"public", "t1"}}) {
		t.Errorf("selections = %+v", sels)
	}
	if len(p.Source.Streams) != 3 || p.Source.Streams[1].Pattern != "public.*" {
		t.Error("Expand changed its input")
	}

	for _, tc := range []struct {
		name    string
		streams []StreamConfig
		want    string
	}{
		{"nothing", []StreamConfig{{Pattern: "nope.*"}}, `stream pattern "nope.*" selects no table of the source's 8`},
		{"all excluded", []StreamConfig{{Pattern: "sales.r*", Exclude: []string{"refund"}}}, `stream pattern "sales.r*" selects no table (1 matched, all excluded`},
		{"same name", []StreamConfig{{Pattern: "*.t1"}, {Name: "x"}}, ""},
		{"clash", []StreamConfig{{Pattern: "*.order_1"}, {Name: "order_1", Namespace: "other"}}, `stream pattern "*.order_1" selects sales.order_1, whose stream name "order_1" stream "order_1" already uses`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Expand(&Pipeline{Source: Source{Streams: tc.streams}}, tables)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"t2", "t10", -1}, {"t10", "t2", 1}, {"t1", "t1", 0}, {"a", "b", -1}, {"t01", "t1", 0},
		{"order_9", "order_10", -1}, {"x", "x1", -1}, {"t10a", "t10b", -1},
	} {
		if got := naturalCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
