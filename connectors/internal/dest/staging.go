package dest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
)

// stagingPrefix starts the name of every replace-mode staging table.
const stagingPrefix = "_rb_stage_"

// StagingTable is a replace-mode staging table left in a schema: the
// staging table of a run in progress, or of one that failed for good.
type StagingTable struct {
	// Name is the table name.
	Name string `json:"-"`
	// Pipeline, Stream and RunID name its owner; all empty when the table
	// carries no owner comment (made by an older version).
	Pipeline string `json:"pipeline"`
	Stream   string `json:"stream"`
	RunID    string `json:"run_id"`
}

// String describes the table and its owner.
func (s StagingTable) String() string {
	if s.RunID == "" {
		return s.Name + " (owner unknown)"
	}
	return fmt.Sprintf("%s (pipeline %s, stream %s, run %s)", s.Name, s.Pipeline, s.Stream, s.RunID)
}

// ownerComment is the COMMENT ON TABLE of a staging table, naming its owner.
func ownerComment(pipeline, stream, runID string) string {
	b, _ := json.Marshal(StagingTable{Pipeline: pipeline, Stream: stream, RunID: runID})
	return string(b)
}

// StagingTables lists the replace-mode staging tables in schema.
func StagingTables(ctx context.Context, conn *pgclient.Conn, schema string) ([]StagingTable, error) {
	if schema == "" {
		schema = "public"
	}
	rows, err := pgclient.Query(ctx, conn, `SELECT c.relname, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND starts_with(c.relname, $2)
ORDER BY c.relname`, []byte(schema), []byte(stagingPrefix))
	if err != nil {
		return nil, fmt.Errorf("list staging tables: %w", err)
	}
	out := make([]StagingTable, 0, len(rows))
	for _, r := range rows {
		var st StagingTable
		if r[1] != nil {
			_ = json.Unmarshal(r[1], &st) // a foreign comment leaves the owner unknown
		}
		st.Name = string(r[0])
		out = append(out, st)
	}
	return out, nil
}

// dropStaleStaging drops the staging tables of earlier runs of the
// pipeline's stream: runs that failed for good leave them behind, and only
// one run of a pipeline is active at a time, so any run other than runID is
// over. It returns the tables dropped.
func dropStaleStaging(ctx context.Context, conn *pgclient.Conn, schema, pipeline, stream, runID string) ([]string, error) {
	all, err := StagingTables(ctx, conn, schema)
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, st := range all {
		if st.RunID != "" && st.RunID != runID && st.Pipeline == pipeline && st.Stream == stream {
			stale = append(stale, pgsql.Qualified(schema, st.Name))
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	if err := ddl(ctx, conn, schema, "DROP TABLE IF EXISTS "+strings.Join(stale, ", ")); err != nil {
		return nil, fmt.Errorf("drop stale staging tables: %w", err)
	}
	return stale, nil
}
