package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProblems(t *testing.T) {
	res := func(lines string) string { return minimal + "resources:\n" + lines }
	dst := func(lines string) string { return minimal + lines }
	stream := func(t *testing.T, lines string) string {
		return edit(t, "    - name: users\n", "    - name: users\n"+lines)
	}

	tests := []struct {
		name   string
		src    func(t *testing.T) string
		lookup Lookup
		want   []string
	}{
		// Unknown keys.
		{"unknown top-level key suggests", func(*testing.T) string { return minimal + "pipline: x\n" }, nil,
			[]string{`9:1: unknown key "pipline" (did you mean "pipeline"?)`}},
		{"unknown key without close match", func(*testing.T) string { return minimal + "transforms: []\n" }, nil,
			[]string{`9:1: unknown key "transforms"`}},
		{"unknown stream key", func(t *testing.T) string { return stream(t, "      cursor: id\n") }, nil,
			[]string{`7:7: source.streams[0]: unknown key "cursor"`}},
		{"unknown destination key suggests", func(*testing.T) string { return dst("  wirte_mode: append\n") }, nil,
			[]string{`9:3: destination: unknown key "wirte_mode" (did you mean "write_mode"?)`}},
		{"unknown resources key suggests", func(*testing.T) string { return res("  max_retry: 2\n") }, nil,
			[]string{`10:3: resources: unknown key "max_retry" (did you mean "max_retries"?)`}},
		{"duplicate key", func(*testing.T) string { return minimal + "pipeline: q\n" }, nil,
			[]string{`9:1: duplicate key "pipeline" (first at line 2)`}},

		// Invalid values.
		{"sync_mode", func(t *testing.T) string { return stream(t, "      sync_mode: incremantal\n") }, nil,
			[]string{`7:18: source.streams[0].sync_mode: "incremantal" is not one of full_refresh, incremental, cdc (did you mean "incremental"?)`}},
		{"write_mode", func(*testing.T) string { return dst("  write_mode: upsrt\n") }, nil,
			[]string{`9:15: destination.write_mode: "upsrt" is not one of append, replace, upsert (did you mean "upsert"?)`}},
		{"write_mode wrong case", func(*testing.T) string { return dst("  write_mode: APPEND\n") }, nil,
			[]string{`9:15: destination.write_mode: "APPEND" is not one of append, replace, upsert (did you mean "append"?)`}},
		{"on_data_error", func(*testing.T) string { return dst("  on_data_error: abort\n") }, nil,
			[]string{`9:18: destination.on_data_error: "abort" is not one of fail, skip, dlq`}},
		{"new_column", func(*testing.T) string { return dst("  schema_evolution: {new_column: drop}\n") }, nil,
			[]string{`9:34: destination.schema_evolution.new_column: "drop" is not one of add, ignore, fail`}},
		{"removed_column", func(*testing.T) string { return dst("  schema_evolution: {removed_column: drop}\n") }, nil,
			[]string{`9:38: destination.schema_evolution.removed_column: "drop" is not one of ignore, fail`}},
		{"type_change suggests", func(*testing.T) string { return dst("  schema_evolution: {type_change: coerse}\n") }, nil,
			[]string{`9:35: destination.schema_evolution.type_change: "coerse" is not one of coerce, fail, null (did you mean "coerce"?)`}},
		{"nullability_change", func(*testing.T) string { return dst("  schema_evolution: {nullability_change: relax}\n") }, nil,
			[]string{`9:42: destination.schema_evolution.nullability_change: "relax" is not one of allow, fail`}},
		{"schema_evolution key suggests", func(*testing.T) string { return dst("  schema_evolution: {removed_columns: fail}\n") }, nil,
			[]string{`9:22: destination.schema_evolution: unknown key "removed_columns" (did you mean "removed_column"?)`}},
		{"max_failed_records needs skip or dlq", func(*testing.T) string { return dst("  max_failed_records: 5\n") }, nil,
			[]string{`9:23: destination.max_failed_records: needs on_data_error skip or dlq (with fail the first rejected record stops the run)`}},
		{"max_failed_records positive", func(*testing.T) string { return dst("  on_data_error: skip\n  max_failed_records: 0\n") }, nil,
			[]string{`10:23: destination.max_failed_records: must be >= 1, got 0`}},
		{"every problem at once", func(*testing.T) string {
			return dst("  on_data_error: skp\n  schema_evolution: {type_change: cast, nullability_change: no}\n")
		}, nil, []string{
			`9:18: destination.on_data_error: "skp" is not one of fail, skip, dlq (did you mean "skip"?)`,
			`10:35: destination.schema_evolution.type_change: "cast" is not one of coerce, fail, null`,
			`10:61: destination.schema_evolution.nullability_change: "no" is not one of allow, fail`,
		}},
		{"compression removed", func(*testing.T) string { return res("  compression: lz4\n") }, nil,
			[]string{`10:3: resources.compression: removed: it never had an effect, Arrow batches cross the coordinator-worker hops uncompressed (docs/rationale.md, "No compression between coordinator and workers"); delete the key`}},
		{"state backend", func(*testing.T) string { return minimal + "state: {backend: mysql}\n" }, nil,
			[]string{`9:18: state.backend: "mysql" is not one of sqlite, postgres`}},
		{"postgres state needs connection", func(*testing.T) string { return minimal + "state: {backend: postgres}\n" }, nil,
			[]string{`9:18: state.backend: postgres needs a connection URL`}},
		{"byte size unit", func(*testing.T) string { return res("  max_batch_bytes: 64zb\n") }, nil,
			[]string{`10:20: resources.max_batch_bytes: invalid size "64zb": unknown size unit "zb": use b, kb, mb, gb or tb (binary multiples)`}},
		{"byte size negative", func(*testing.T) string { return res("  checkpoint_interval_bytes: -1mb\n") }, nil,
			[]string{`10:30: resources.checkpoint_interval_bytes: invalid size "-1mb": want a size such as 64mb, 1GiB or 65536`}},
		{"byte size zero", func(*testing.T) string { return res("  max_batch_bytes: 0\n") }, nil,
			[]string{`10:20: resources.max_batch_bytes: must be at least 1 bytes, got "0"`}},
		{"byte size overflow", func(*testing.T) string { return res("  max_memory: 99999999tb\n") }, nil,
			[]string{`10:15: resources.max_memory: invalid size "99999999tb": size is too large`}},
		{"byte size fraction of a byte", func(*testing.T) string { return res("  max_memory: 1.5b\n") }, nil,
			[]string{`10:15: resources.max_memory: invalid size "1.5b": size is not a whole number of bytes`}},
		{"batch larger than half the guest memory", func(*testing.T) string { return res("  max_memory: 80mb\n  max_batch_bytes: 64mb\n") }, nil,
			[]string{`11:20: resources.max_batch_bytes: must be at most half of max_memory (41943040 bytes here): a guest holds one batch while it builds the next`}},
		{"max_inflight_batches zero", func(*testing.T) string { return res("  max_inflight_batches: 0\n") }, nil,
			[]string{`10:25: resources.max_inflight_batches: must be >= 1, got 0`}},
		{"parallelism zero", func(*testing.T) string { return res("  parallelism: 0\n") }, nil,
			[]string{`10:16: resources.parallelism: must be >= 1, got 0`}},
		{"max_retries negative", func(*testing.T) string { return res("  max_retries: -1\n") }, nil,
			[]string{`10:16: resources.max_retries: must be >= 0, got -1`}},
		{"max_retries word", func(*testing.T) string { return res("  max_retries: three\n") }, nil,
			[]string{`10:16: resources.max_retries: must be an integer, got "three"`}},
		{"max_batch_rows fraction", func(*testing.T) string { return res("  max_batch_rows: 1.5\n") }, nil,
			[]string{`10:19: resources.max_batch_rows: must be a whole number, got "1.5"`}},
		{"integer out of range", func(*testing.T) string { return res("  timeout_seconds: 99999999999\n") }, nil,
			[]string{`10:20: resources.timeout_seconds: "99999999999" is out of range`}},
		{"partitions zero", func(t *testing.T) string { return stream(t, "      partitions: 0\n") }, nil,
			[]string{`7:19: source.streams[0].partitions: must be >= 1, got 0`}},
		{"resources not a mapping", func(*testing.T) string { return minimal + "resources: 4\n" }, nil,
			[]string{`9:12: resources: must be a mapping, got a number`}},

		// Cross-field rules.
		{"incremental needs cursor_field", func(t *testing.T) string { return stream(t, "      sync_mode: incremental\n") }, nil,
			[]string{`7:18: source.streams[0].sync_mode: incremental streams need a cursor_field`}},
		{"upsert needs primary_key", func(*testing.T) string { return dst("  write_mode: upsert\n") }, nil,
			[]string{`9:15: destination.write_mode: upsert needs a primary_key`}},
		{"upsert with primary_key", func(*testing.T) string { return dst("  write_mode: upsert\n  primary_key: [id, ts]\n") }, nil, nil},
		{"tie_breaker needs cursor_field", func(t *testing.T) string { return stream(t, "      tie_breaker_field: id\n") }, nil,
			[]string{`7:26: source.streams[0].tie_breaker_field: tie_breaker_field needs a cursor_field`}},
		{"partition_key only with full_refresh", func(t *testing.T) string {
			return stream(t, "      sync_mode: incremental\n      cursor_field: ts\n      partition_key: id\n")
		}, nil, []string{`9:22: source.streams[0].partition_key: partition_key is only allowed with sync_mode full_refresh, not incremental`}},
		{"partitions only with full_refresh", func(t *testing.T) string {
			return stream(t, "      sync_mode: cdc\n      partitions: 2\n")
		}, nil, []string{`8:19: source.streams[0].partitions: more than one partition is only allowed with sync_mode full_refresh, not cdc`}},
		{"cursor_field outside projection", func(t *testing.T) string {
			return stream(t, "      sync_mode: incremental\n      cursor_field: ts\n      columns: [id]\n")
		}, nil, []string{`8:21: source.streams[0].cursor_field: "ts" is not among the stream's columns`}},
		{"duplicate stream names", func(t *testing.T) string { return stream(t, "    - {name: orders}\n    - {name: users}\n") }, nil,
			[]string{`8:14: source.streams[2].name: duplicate stream name "users" (first defined at line 6)`}},
		{"two streams, one destination table", func(t *testing.T) string { return stream(t, "    - {name: users_v2, destination_table: users}\n") }, nil,
			[]string{`7:14: source.streams[1]: streams "users" and "users_v2" both write destination table "users"; set destination_table`}},
		{"duplicate columns", func(t *testing.T) string { return stream(t, "      columns: [id, id]\n") }, nil,
			[]string{`7:21: source.streams[0].columns[1]: duplicate entry "id" (first at line 7)`}},
		{"version must be 1.0", func(t *testing.T) string { return edit(t, `version: "1.0"`, `version: "2.0"`) }, nil,
			[]string{`1:10: version: "2.0" is not supported; use "1.0"`}},

		// Missing or malformed structure.
		{"missing version and pipeline", func(t *testing.T) string { return edit(t, "version: \"1.0\"\npipeline: p\n", "") }, nil,
			[]string{`1:1: missing required key "version"`, `1:1: missing required key "pipeline"`}},
		{"empty pipeline name", func(t *testing.T) string { return edit(t, "pipeline: p", `pipeline: ""`) }, nil,
			[]string{`2:11: pipeline: must not be empty`}},
		{"missing source and destination", func(*testing.T) string { return "version: \"1.0\"\npipeline: p\n" }, nil,
			[]string{`1:1: missing required key "source"`, `1:1: missing required key "destination"`}},
		{"missing use", func(t *testing.T) string { return edit(t, "  use: dest-postgres\n", "  write_mode: append\n") }, nil,
			[]string{`7:1: destination: missing required key "use"`}},
		{"bad connector ref", func(t *testing.T) string { return edit(t, "use: source-postgres", "use: source postgres@") }, nil,
			[]string{`4:8: source.use: invalid connector reference "source postgres@": want id or id@version, e.g. source-postgres@1.0.0`}},
		{"no streams", func(t *testing.T) string { return edit(t, "  streams:\n    - name: users\n", "  streams: []\n") }, nil,
			[]string{`5:3: source.streams: list at least one stream`}},
		{"streams not a list", func(t *testing.T) string { return edit(t, "  streams:\n    - name: users\n", "  streams: users\n") }, nil,
			[]string{`5:12: source.streams: must be a list of streams, got a string`}},
		{"stream not a mapping", func(t *testing.T) string { return edit(t, "    - name: users\n", "    - users\n") }, nil,
			[]string{`6:7: source.streams[0]: must be a mapping, got a string`}},
		{"stream without name", func(t *testing.T) string { return edit(t, "    - name: users\n", "    - sync_mode: full_refresh\n") }, nil,
			[]string{`6:7: source.streams[0]: missing required key "name"`}},
		{"config not a mapping", func(*testing.T) string { return dst("  config: [a]\n") }, nil,
			[]string{`9:11: destination.config: must be a mapping, got a list`}},
		{"primary_key not a list", func(*testing.T) string { return dst("  primary_key: {a: b}\n") }, nil,
			[]string{`9:16: destination.primary_key: must be a list of strings, got a mapping`}},

		// Variables.
		{"unset variable in a name", func(t *testing.T) string { return edit(t, "pipeline: p", "pipeline: ${NAME}") }, nil,
			[]string{`2:11: pipeline: variable ${NAME} is not set`}},
		{"unset variables in config", func(*testing.T) string { return dst("  config: {user: ${USER}, password: \"${A}${B}\"}\n") }, vars("A", "x"),
			[]string{`9:18: destination.config.user: variable ${USER} is not set`, `9:37: destination.config.password: variable ${B} is not set`}},
		{"set variables", func(*testing.T) string { return dst("  config: {user: ${USER}}\n") }, vars("USER", "app"), nil},
		{"escaped variable", func(*testing.T) string { return dst("  config: {user: $${USER}}\n") }, nil, nil},
		{"malformed variable", func(*testing.T) string { return dst("  config: {user: \"${1X}\"}\n") }, nil,
			[]string{`9:18: destination.config.user: invalid variable name in ${...}: use letters, digits and _ (write $${ for a literal ${)`}},
		{"unterminated variable", func(*testing.T) string { return dst("  config:\n    user: ${USER\n") }, nil,
			[]string{`10:11: destination.config.user: unterminated ${ variable reference (write $${ for a literal ${)`}},
		{"unset variable in a number", func(*testing.T) string { return res("  parallelism: ${PAR}\n") }, nil,
			[]string{`10:16: resources.parallelism: variable ${PAR} is not set`}},
		{"variable with a bad number", func(*testing.T) string { return res("  parallelism: ${PAR}\n") }, vars("PAR", "many"),
			[]string{`10:16: resources.parallelism: must be an integer, got "many"`}},

		// Documents.
		{"syntax error", func(*testing.T) string { return "version: \"1.0\"\nsource: [a\ndestination: b\n" }, nil,
			[]string{`2:1: invalid YAML: did not find expected ',' or ']'`}},
		{"unclosed flow on the first line", func(*testing.T) string { return "a: [\n" }, nil,
			[]string{`2:1: invalid YAML: did not find expected node content`}},
		{"bad indentation", func(*testing.T) string { return "version: \"1.0\"\n  pipeline: p\n" }, nil,
			[]string{`2:3: invalid YAML: did not find expected key`}},
		{"tab indentation", func(*testing.T) string { return "version: \"1.0\"\n\tpipeline: p\n" }, nil,
			[]string{`2:1: invalid YAML: found character that cannot start any token`}},
		{"empty", func(*testing.T) string { return "" }, nil, []string{`1:1: pipeline is empty`}},
		{"only a comment", func(*testing.T) string { return "# nothing\n" }, nil, []string{`1:1: pipeline is empty`}},
		{"list root", func(*testing.T) string { return "- a\n- b\n" }, nil, []string{`1:1: pipeline must be a mapping, got a list`}},
		{"two documents", func(*testing.T) string { return minimal + "---\nversion: \"1.0\"\n" }, nil,
			[]string{`9:1: a pipeline file holds one YAML document; found another`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src(t), tt.lookup)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsEverythingSorted(t *testing.T) {
	src := `version: "2.0"
pipeline: ""
source:
  use: source-postgres
  streams:
    - {name: a, sync_mode: incremental}
    - {name: a, partition_key: id, sync_mode: incremental, cursor_field: ts}
destination:
  use: dest-postgres
  write_mode: upsrt
resources: {parallelism: 0, max_retriez: 1}
`
	want := `pipeline.yaml:1:10: version: "2.0" is not supported; use "1.0"
pipeline.yaml:2:11: pipeline: must not be empty
pipeline.yaml:6:28: source.streams[0].sync_mode: incremental streams need a cursor_field
pipeline.yaml:7:14: source.streams[1].name: duplicate stream name "a" (first defined at line 6)
pipeline.yaml:7:32: source.streams[1].partition_key: partition_key is only allowed with sync_mode full_refresh, not incremental
pipeline.yaml:10:15: destination.write_mode: "upsrt" is not one of append, replace, upsert (did you mean "upsert"?)
pipeline.yaml:11:26: resources.parallelism: must be >= 1, got 0
pipeline.yaml:11:29: resources: unknown key "max_retriez" (did you mean "max_retries"?)`
	_, err := Parse([]byte(src), nil)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
	ve := err.(*ValidationError)
	ve.File = "jobs/pg.yaml"
	if got := ve.Error(); got[:len("jobs/pg.yaml:1:10: ")] != "jobs/pg.yaml:1:10: " {
		t.Errorf("File not used: %q", got)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Line: 3, Column: 7, Path: "a.b", Message: "bad"}, "3:7: a.b: bad"},
		{Problem{Line: 3, Message: "bad"}, "3: bad"},
		{Problem{Message: "bad"}, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q", got)
			}
		})
	}
	e := &ValidationError{Problems: []Problem{{Message: "no position"}}}
	if got := e.Error(); got != "pipeline.yaml: no position" {
		t.Errorf("Error() = %q", got)
	}
}
