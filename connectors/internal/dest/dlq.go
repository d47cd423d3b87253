package dest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgarrow"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgsql"
)

// DLQTable is the per-schema dead-letter table of on_data_error = dlq: one
// row per rejected record, committed in the transaction of its batch.
const DLQTable = "_rapidbyte_dlq"

// ensureDLQTable creates the schema and the dead-letter table.
func ensureDLQTable(ctx context.Context, conn *pgclient.Conn, schema string) error {
	sql := fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (
  id        bigserial   PRIMARY KEY,
  run_id    text        NOT NULL,
  pipeline  text        NOT NULL,
  stream    text        NOT NULL,
  error     text        NOT NULL,
  sqlstate  text,
  record    jsonb,
  failed_at timestamptz NOT NULL DEFAULT now())`, pgsql.Ident(schema), pgsql.Qualified(schema, DLQTable))
	if err := ddl(ctx, conn, schema, sql); err != nil {
		return fmt.Errorf("create dead-letter table: %w", err)
	}
	return nil
}

// rawTable is a session temp table with unconstrained columns of the
// stream's own (Arrow-derived) types: rejected rows are copied into it to
// render them as jsonb whatever the destination refused.
type rawTable struct {
	name    string // unqualified; lives in pg_temp
	create  string
	copySQL string
	enc     *pgarrow.Encoder
}

// newRawTable returns the raw table of columns names with Arrow types src,
// or nil when a type has no unconstrained PostgreSQL counterpart here.
func newRawTable(name string, names []string, src []pgarrow.Type) *rawTable {
	enc, err := pgarrow.NewEncoder(src, src)
	if err != nil {
		return nil
	}
	defs := make([]string, len(names))
	for i, n := range names {
		defs[i] = pgsql.Ident(n) + " " + src[i].PGName()
	}
	id := pgsql.Ident(name)
	return &rawTable{
		name: name,
		create: fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s (%s, "_rb_seq" bigserial) ON COMMIT DELETE ROWS; DELETE FROM pg_temp.%s`,
			id, strings.Join(defs, ", "), id),
		copySQL: fmt.Sprintf("COPY pg_temp.%s (%s) FROM STDIN (FORMAT binary)", id, pgsql.Idents(names)),
		enc:     enc,
	}
}

// stage empties the raw table and copies rows of the current batch into
// it, in order, inside the caller's transaction.
func (w *writer) stage(ctx context.Context, rows []int) error {
	r := w.raw
	if err := pgclient.Exec(ctx, w.conn, r.create); err != nil {
		return fmt.Errorf("create raw table: %w", err)
	}
	var encErr error
	err := copyTuples(ctx, w.client, r.copySQL, w.req.CopyFlushBytes, &w.scratch, func(c *copier) error {
		for _, i := range rows {
			var err error
			if c.buf, err = r.enc.AppendRows(c.buf, w.readers, i, i+1); err != nil {
				encErr = err
				return err
			}
		}
		return nil
	})
	if encErr != nil {
		return fmt.Errorf("encode rejected row: %w", encErr)
	}
	if err != nil {
		return fmt.Errorf("copy rejected rows: %w", err)
	}
	return nil
}

// deadLetter inserts the rejected rows of the current batch into the
// dead-letter table, in the batch's transaction.
func (w *writer) deadLetter(ctx context.Context, rejected []rejection) error {
	type entry struct {
		Error    string `json:"error"`
		SQLState string `json:"sqlstate"`
	}
	entries := make([]entry, len(rejected))
	rows := make([]int, len(rejected))
	for i, r := range rejected {
		entries[i] = entry{Error: describeRejection(r.err), SQLState: sqlState(r.err)}
		rows[i] = r.row
	}
	payload, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("encode dead letters: %w", err)
	}
	record := "NULL::jsonb"
	join := ""
	if w.raw != nil {
		if err := w.stage(ctx, rows); err != nil {
			return err
		}
		record = "r.rec"
		join = fmt.Sprintf(` LEFT JOIN (SELECT to_jsonb(t) - '_rb_seq' AS rec, row_number() OVER (ORDER BY t."_rb_seq") AS n FROM pg_temp.%s t) r ON r.n = e.n`,
			pgsql.Ident(w.raw.name))
	}
	sql := fmt.Sprintf(`INSERT INTO %s (run_id, pipeline, stream, error, sqlstate, record)
SELECT $1, $2, $3, e.v->>'error', NULLIF(e.v->>'sqlstate', ''), %s
FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(v, n)%s ORDER BY e.n`,
		pgsql.Qualified(w.schema, DLQTable), record, join)
	s := w.req.Stream
	if _, err := pgclient.Query(ctx, w.conn, sql, []byte(s.RunID), []byte(s.Pipeline), []byte(s.Name), payload); err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	return nil
}

// rowKey renders the key columns of row of the current batch as
// "col=value, ..." ("" when the stream has no key), in a transaction of
// its own that it rolls back. The caller is outside any transaction.
func (w *writer) rowKey(ctx context.Context, row int) string {
	if !w.namesKeys() || w.conn.IsClosed() {
		return ""
	}
	defer func() { _ = pgclient.Exec(context.WithoutCancel(ctx), w.conn, "ROLLBACK") }()
	if err := pgclient.Exec(ctx, w.conn, "BEGIN"); err != nil {
		return ""
	}
	if err := w.stage(ctx, []int{row}); err != nil {
		return ""
	}
	res, err := pgclient.Query(ctx, w.conn, fmt.Sprintf(`SELECT to_jsonb(t) FROM pg_temp.%s t`, pgsql.Ident(w.raw.name)))
	if err != nil || len(res) != 1 {
		return ""
	}
	var rec map[string]json.RawMessage
	if json.Unmarshal(res[0][0], &rec) != nil {
		return ""
	}
	parts := make([]string, 0, len(w.keyCols))
	for _, k := range w.keyCols {
		parts = append(parts, k+"="+string(rec[k]))
	}
	return strings.Join(parts, ", ")
}
