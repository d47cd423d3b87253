package pgclient

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"
)

// Query runs sql with text parameters (nil = NULL) and returns every row
// in text format, a nil cell for NULL. It is meant for small catalog and
// control queries, not for data.
func Query(ctx context.Context, conn *pgconn.PgConn, sql string, args ...[]byte) ([][][]byte, error) {
	res := conn.ExecParams(ctx, sql, args, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Rows, nil
}

// Exec runs one or more statements with the simple protocol.
func Exec(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	_, err := conn.Exec(ctx, sql).ReadAll()
	return err
}

// Text returns s as a parameter value.
func Text(s string) []byte { return []byte(s) }
