package cdc

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// These tests drive the reader's stream loop against a scripted WAL
// sender: they pin down how it reads the server's messages, which a real
// server produces only under particular timing.

// fakeWALSender is one replication connection's server side.
type fakeWALSender struct {
	t  *testing.T
	be *pgproto3.Backend
	// statuses receives the reply-requested flag of each standby status
	// update the reader sends.
	statuses chan bool
}

// startFakeWALSender listens on loopback and returns a replication
// connection to a server that completes the startup, answers
// START_REPLICATION with CopyBoth and hands itself to script.
func startFakeWALSender(t *testing.T, script func(w *fakeWALSender)) *pgclient.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		w := &fakeWALSender{t: t, be: pgproto3.NewBackend(c, c), statuses: make(chan bool, 64)}
		if _, err := w.be.ReceiveStartupMessage(); err != nil {
			return
		}
		w.be.Send(&pgproto3.AuthenticationOk{})
		w.be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"})
		w.be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
		w.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if w.be.Flush() != nil {
			return
		}
		if msg, err := w.be.Receive(); err != nil {
			return
		} else if _, ok := msg.(*pgproto3.Query); !ok {
			return
		}
		w.be.Send(&pgproto3.CopyBothResponse{})
		if w.be.Flush() != nil {
			return
		}
		go func() { // standby status updates
			for {
				msg, err := w.be.Receive()
				if err != nil {
					close(w.statuses)
					return
				}
				if cd, ok := msg.(*pgproto3.CopyData); ok && len(cd.Data) == 34 && cd.Data[0] == pgrepl.StandbyStatusUpdateByteID {
					w.statuses <- cd.Data[33] == 1
				}
			}
		}()
		script(w)
	}()
	addr := ln.Addr().(*net.TCPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgclient.ConnectReplication(ctx, pgclient.Config{Host: addr.IP.String(), Port: addr.Port, User: "rb", Database: "db"}, pgclient.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func (w *fakeWALSender) send(data []byte) {
	w.be.Send(&pgproto3.CopyData{Data: data})
	if err := w.be.Flush(); err != nil {
		w.t.Logf("fake WAL sender: %v", err)
	}
}

// keepalive sends a primary keepalive message at the sent position pos.
func (w *fakeWALSender) keepalive(pos pgrepl.LSN) {
	b := []byte{pgrepl.KeepaliveByteID}
	b = binary.BigEndian.AppendUint64(b, uint64(pos))
	b = binary.BigEndian.AppendUint64(b, 0)
	w.send(append(b, 0))
}

// xlog sends one pgoutput message in an XLogData message.
func (w *fakeWALSender) xlog(pos pgrepl.LSN, msg []byte) {
	b := []byte{pgrepl.XLogDataByteID}
	b = binary.BigEndian.AppendUint64(b, uint64(pos))
	b = binary.BigEndian.AppendUint64(b, uint64(pos))
	b = binary.BigEndian.AppendUint64(b, 0)
	w.send(append(b, msg...))
}

// txn sends one transaction inserting id into public.item (relation 1),
// committed at commit and ending at end.
func (w *fakeWALSender) txn(commit, end pgrepl.LSN, id string) {
	begin := []byte{'B'}
	begin = binary.BigEndian.AppendUint64(begin, uint64(commit))
	begin = binary.BigEndian.AppendUint64(begin, 0)
	begin = binary.BigEndian.AppendUint32(begin, 700)
	w.xlog(commit, begin)
	rel := []byte{'R'}
	rel = binary.BigEndian.AppendUint32(rel, 1)
	rel = append(rel, "public\x00item\x00d"...)
	rel = binary.BigEndian.AppendUint16(rel, 1)
	rel = append(rel, 1)
	rel = append(rel, "id\x00"...)
	rel = binary.BigEndian.AppendUint32(rel, 25)
	rel = binary.BigEndian.AppendUint32(rel, 0xFFFFFFFF)
	w.xlog(commit, rel)
	ins := []byte{'I'}
	ins = binary.BigEndian.AppendUint32(ins, 1)
	ins = append(ins, 'N')
	ins = binary.BigEndian.AppendUint16(ins, 1)
	ins = append(ins, 't')
	ins = binary.BigEndian.AppendUint32(ins, uint32(len(id)))
	ins = append(ins, id...)
	w.xlog(commit, ins)
	c := []byte{'C', 0}
	c = binary.BigEndian.AppendUint64(c, uint64(commit))
	c = binary.BigEndian.AppendUint64(c, uint64(end))
	c = binary.BigEndian.AppendUint64(c, 0)
	w.xlog(commit, c)
}

// recordingEmitter keeps the rows' LSNs and the checkpoints a read emits.
type recordingEmitter struct {
	b           *batch.Builder
	rows        int
	checkpoints []string
}

func (e *recordingEmitter) Schema(fields []abi.Field) (*batch.Builder, error) {
	s, err := batch.NewSchema(fields)
	if err != nil {
		return nil, err
	}
	e.b, err = batch.NewBuilder(s, 1000, 1<<20)
	return e.b, err
}

func (e *recordingEmitter) Emit(b *batch.Builder) error {
	e.rows += b.Rows()
	b.Reset()
	return nil
}

func (e *recordingEmitter) Checkpoint(cp abi.Checkpoint) error {
	e.checkpoints = append(e.checkpoints, *cp.CursorValue.String)
	return nil
}

// newTestReader returns a bounded reader of public.item (one text column)
// over repl, from start up to end.
func newTestReader(t *testing.T, repl *pgclient.Conn, start, end pgrepl.LSN) (*reader, *recordingEmitter) {
	t.Helper()
	tbl := Table{Schema: "public", Name: "item", Columns: []Column{{Name: "id", Type: "text"}}, Key: []string{"id"},
		typeOIDs: []uint32{25}, typeMods: []int32{-1}}
	e := &recordingEmitter{}
	r := &reader{req: Request{Slot: "s", Publication: "p", Tables: []Table{tbl}, CheckpointInterval: time.Hour, CheckpointRows: 1},
		repl: repl, e: e, tables: map[string]*Table{}, rels: map[uint32]*Table{}, seen: map[*Table]bool{}}
	r.tables[tbl.Qualified()] = &r.req.Tables[0]
	var err error
	if r.b, err = e.Schema(Fields); err != nil {
		t.Fatal(err)
	}
	r.confirm, r.lastEnd, r.end, r.follow.cpLSN = start, start, end, start
	r.flushWAL = func(context.Context) error { return errors.New("unexpected WAL flush") }
	return r, e
}

// TestReadEndsOnlyAtItsEnd: the WAL sender answers the status requests it
// found queued after a long step (filtering a large transaction, a stall)
// all at once, with one sent position below the read's end. Those equal
// keepalives are no proof that it has nothing left to send: the read must
// go on to the transactions before its end (it used to end there, and a
// run succeeded without them).
func TestReadEndsOnlyAtItsEnd(t *testing.T) {
	const start, busy, end = pgrepl.LSN(0x1000), pgrepl.LSN(0x2000), pgrepl.LSN(0x9000)
	repl := startFakeWALSender(t, func(w *fakeWALSender) {
		for range 5 {
			w.keepalive(busy)
		}
		w.txn(0x8000, 0x9100, "1")
	})
	r, e := newTestReader(t, repl, start, end)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r.flushWAL = func(context.Context) error { return nil } // the keepalives show no progress
	if err := r.stream(ctx, start); err != nil {
		t.Fatal(err)
	}
	if r.stats.Commits != 1 || e.rows != 1 {
		t.Fatalf("read %d transactions, %d rows; want the transaction before the end (1, 1)", r.stats.Commits, e.rows)
	}
	if n := len(e.checkpoints); n != 1 || e.checkpoints[0] != pgrepl.LSN(0x9100).String() {
		t.Fatalf("checkpoints %v, want one at the commit's end 0/9100", e.checkpoints)
	}
}

// TestReadFlushesPastItsEnd: an idle WAL sender below the read's end (the
// rest of a record that crosses the end is not flushed) repeats its
// position: the reader commits a transaction on the source, which flushes
// the WAL past the end, and ends once the sender passes it.
func TestReadFlushesPastItsEnd(t *testing.T) {
	const start, idle, end = pgrepl.LSN(0x1000), pgrepl.LSN(0x8FD0), pgrepl.LSN(0x9000)
	flushed := make(chan struct{})
	repl := startFakeWALSender(t, func(w *fakeWALSender) {
		for {
			select {
			case <-flushed:
				w.keepalive(0x9040)
				return
			case _, ok := <-w.statuses:
				if !ok {
					return
				}
				w.keepalive(idle)
			}
		}
	})
	r, e := newTestReader(t, repl, start, end)
	flushes := 0
	r.flushWAL = func(context.Context) error {
		flushes++
		close(flushed)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.stream(ctx, start); err != nil {
		t.Fatal(err)
	}
	if flushes != 1 {
		t.Fatalf("%d WAL flushes, want 1", flushes)
	}
	if n := len(e.checkpoints); n != 1 || e.checkpoints[0] != pgrepl.LSN(0x9040).String() {
		t.Fatalf("checkpoints %v, want one at the sent position past the end, 0/9040", e.checkpoints)
	}
}
