package pgclient

import "github.com/jackc/pgx/v5/pgproto3"

// PgError is an error the server reported (an ErrorResponse), with the
// fields the connectors use to classify it and to name a rejected row.
type PgError struct {
	Severity       string // ERROR, FATAL, PANIC (localized, as the server sent it)
	Code           string // SQLSTATE
	Message        string
	Detail         string
	Hint           string
	Where          string // the context, such as "COPY t, line 5"
	SchemaName     string
	TableName      string
	ColumnName     string
	ConstraintName string
}

// Error formats the error as libpq and pgx do: "ERROR: message (SQLSTATE
// code)".
func (e *PgError) Error() string {
	return e.Severity + ": " + e.Message + " (SQLSTATE " + e.Code + ")"
}

// SQLState returns the SQLSTATE code.
func (e *PgError) SQLState() string { return e.Code }

// pgError converts an ErrorResponse.
func pgError(m *pgproto3.ErrorResponse) *PgError {
	return &PgError{
		Severity: m.Severity, Code: m.Code, Message: m.Message, Detail: m.Detail, Hint: m.Hint,
		Where: m.Where, SchemaName: m.SchemaName, TableName: m.TableName, ColumnName: m.ColumnName,
		ConstraintName: m.ConstraintName,
	}
}
