package pgclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"
)

// ReplicationSlot is what CREATE_REPLICATION_SLOT returns.
type ReplicationSlot struct {
	Name            string
	ConsistentPoint pgrepl.LSN
	SnapshotName    string
}

// CreateLogicalSlot creates a logical replication slot with the output
// plugin on a replication connection, inside the transaction it is in
// (USE_SNAPSHOT: the transaction's queries see the data as of the slot's
// consistent point).
func CreateLogicalSlot(ctx context.Context, conn *Conn, slot, plugin string) (ReplicationSlot, error) {
	res := conn.run(ctx, request{send: simple(fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL %s USE_SNAPSHOT", slot, plugin)), keepRows: true})
	if res.err != nil {
		return ReplicationSlot{}, res.err
	}
	if len(res.rows) != 1 || len(res.rows[0]) < 3 {
		return ReplicationSlot{}, fmt.Errorf("%w: CREATE_REPLICATION_SLOT returned %d rows", errProtocol, len(res.rows))
	}
	row := res.rows[0]
	lsn, err := pgrepl.ParseLSN(string(row[1]))
	if err != nil {
		return ReplicationSlot{}, fmt.Errorf("slot consistent point %q: %w", row[1], err)
	}
	return ReplicationSlot{Name: string(row[0]), ConsistentPoint: lsn, SnapshotName: string(row[2])}, nil
}

// StartLogicalReplication starts streaming a logical slot's changes from
// start, with the output plugin's arguments ("proto_version '1'", ...).
// The connection is then in a COPY exchange: read it with Receive, answer
// with SendStandbyStatus.
func StartLogicalReplication(ctx context.Context, conn *Conn, slot string, start pgrepl.LSN, pluginArgs []string) error {
	sql := fmt.Sprintf("START_REPLICATION SLOT %s LOGICAL %s", slot, start)
	if len(pluginArgs) > 0 {
		sql += " (" + strings.Join(pluginArgs, ", ") + ")"
	}
	if conn.copying || conn.IsClosed() {
		return fmt.Errorf("start replication: connection is not idle")
	}
	stop := conn.watch(ctx)
	defer stop()
	conn.fe.SendQuery(&pgproto3.Query{String: sql})
	if err := conn.fe.Flush(); err != nil {
		_ = conn.Close(ctx)
		return err
	}
	for {
		msg, err := conn.Receive()
		switch {
		case err != nil && (Timeout(err) || ctx.Err() != nil):
			_ = conn.Close(ctx)
			return errors.Join(ctx.Err(), err)
		case err != nil:
			if !conn.IsClosed() {
				// The server's error answers the command; ReadyForQuery
				// follows.
				_ = conn.drainToReady()
			}
			return err
		}
		switch msg.(type) {
		case *pgproto3.CopyBothResponse:
			return nil
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			_ = conn.Close(ctx)
			return fmt.Errorf("%w: %T answering START_REPLICATION", errProtocol, msg)
		}
	}
}

// drainToReady reads up to ReadyForQuery after an error answered a
// command.
func (c *Conn) drainToReady() error {
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			_ = c.Close(context.Background())
			return err
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return nil
		}
	}
}

// SendStandbyStatus sends a Standby Status Update on a streaming
// replication connection: written, flushed and applied all at confirmed,
// and whether the server should answer with a keepalive at once.
func SendStandbyStatus(conn *Conn, confirmed pgrepl.LSN, replyRequested bool) error {
	conn.fe.Send(&pgproto3.CopyData{Data: pgrepl.AppendStandbyStatus(make([]byte, 0, 34), confirmed, time.Now(), replyRequested)})
	if err := conn.fe.Flush(); err != nil {
		_ = conn.Close(context.Background())
		return err
	}
	return nil
}
