package pgclient

import (
	"context"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Query runs sql with text parameters (nil = NULL) and returns every row
// in text format, a nil cell for NULL. It is meant for small catalog and
// control queries, not for data.
func Query(ctx context.Context, conn *Conn, sql string, args ...[]byte) ([][][]byte, error) {
	res := conn.run(ctx, request{send: extended(sql, args, nil, nil), extended: true, keepRows: true})
	return res.rows, res.err
}

// ExecParams runs sql with parameters of the given types (OIDs; none lets
// the server infer them) and formats (0 text, 1 binary; none means text).
func ExecParams(ctx context.Context, conn *Conn, sql string, args [][]byte, oids []uint32, formats []int16) error {
	return conn.run(ctx, request{send: extended(sql, args, oids, formats), extended: true}).err
}

// Exec runs one or more statements with the simple protocol.
func Exec(ctx context.Context, conn *Conn, sql string) error {
	_, err := ExecTag(ctx, conn, sql)
	return err
}

// ExecTag is Exec that also returns the command tag of the last statement
// ("COMMIT", or "ROLLBACK" for a COMMIT of a failed transaction).
func ExecTag(ctx context.Context, conn *Conn, sql string) (string, error) {
	res := conn.run(ctx, request{send: simple(sql)})
	return res.tag, res.err
}

// SimpleRows runs sql with the simple protocol (the only one a replication
// connection accepts) and calls row with each result row's text values,
// nil for NULL, valid only during the call. When row returns an error the
// rest of the result is read and dropped, and SimpleRows returns it.
func SimpleRows(ctx context.Context, conn *Conn, sql string, row func(values [][]byte) error) error {
	return conn.run(ctx, request{send: simple(sql), onRow: row}).err
}

// simple queues sql with the simple protocol.
func simple(sql string) func(fe *pgproto3.Frontend) {
	return func(fe *pgproto3.Frontend) { fe.SendQuery(&pgproto3.Query{String: sql}) }
}

// extended queues sql with the extended protocol: an unnamed statement and
// portal, text results.
func extended(sql string, args [][]byte, oids []uint32, formats []int16) func(fe *pgproto3.Frontend) {
	return func(fe *pgproto3.Frontend) {
		fe.SendParse(&pgproto3.Parse{Query: sql, ParameterOIDs: oids})
		fe.SendBind(&pgproto3.Bind{Parameters: args, ParameterFormatCodes: formats})
		fe.SendExecute(&pgproto3.Execute{})
		fe.SendSync(&pgproto3.Sync{})
	}
}

// Text returns s as a parameter value.
func Text(s string) []byte { return []byte(s) }
