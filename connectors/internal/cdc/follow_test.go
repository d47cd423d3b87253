package cdc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgtest"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
)

// TestReadDeadline: a follow read with changes pending outside a
// transaction waits quietWait for more, but not less than followMinGap
// after its last checkpoint; otherwise it waits idlePoll.
func TestReadDeadline(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	cases := []struct {
		name    string
		follow  bool
		inTx    bool
		pending int
		sinceCP time.Duration
		want    time.Time
	}{
		{"bounded read with pending changes", false, false, 10, time.Hour, now.Add(idlePoll)},
		{"follow, nothing pending", true, false, 0, time.Hour, now.Add(idlePoll)},
		{"follow, inside a transaction", true, true, 10, time.Hour, now.Add(idlePoll)},
		{"follow, pending, long after the last checkpoint", true, false, 10, time.Hour, now.Add(quietWait)},
		{"follow, pending, just after the last checkpoint", true, false, 10, 10 * time.Millisecond, now.Add(followMinGap - 10*time.Millisecond)},
	}
	for _, c := range cases {
		r := &reader{req: Request{Follow: c.follow}, inTx: c.inTx, pending: c.pending, lastCP: now.Add(-c.sinceCP)}
		if got := r.readDeadline(now); !got.Equal(c.want) {
			t.Errorf("%s: deadline %s after now, want %s", c.name, got.Sub(now), c.want.Sub(now))
		}
	}
	if quietWait >= followMinGap || followMinGap >= followInterval || followInterval >= time.Second {
		t.Errorf("want quietWait < followMinGap < followInterval < 1s, have %s, %s, %s", quietWait, followMinGap, followInterval)
	}
}

// followEmitter is an sdk.Emitter that counts rows and keeps the
// checkpoints; the test reads them while the read runs.
type followEmitter struct {
	b    *batch.Builder
	mu   sync.Mutex
	rows int
	cps  []abi.Checkpoint
}

func (e *followEmitter) Schema(fields []abi.Field) (*batch.Builder, error) {
	s, err := batch.NewSchema(fields)
	if err != nil {
		return nil, err
	}
	e.b, err = batch.NewBuilder(s, 0, 0)
	return e.b, err
}

func (e *followEmitter) Emit(b *batch.Builder) error {
	e.mu.Lock()
	e.rows += b.Rows()
	e.mu.Unlock()
	b.Reset()
	return nil
}

func (e *followEmitter) Checkpoint(cp abi.Checkpoint) error {
	e.mu.Lock()
	e.cps = append(e.cps, cp)
	e.mu.Unlock()
	return nil
}

// last returns the latest checkpoint and the rows emitted so far.
func (e *followEmitter) last() (abi.Checkpoint, int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cps) == 0 {
		return abi.Checkpoint{}, e.rows, false
	}
	return e.cps[len(e.cps)-1], e.rows, true
}

// TestFollowCommitsQuietStream: a follow read checkpoints a transaction
// once the stream goes quiet, with no later traffic to push it out (the
// destination commits at checkpoints, so without this the changes would
// wait for the next source commit).
func TestFollowCommitsQuietStream(t *testing.T) {
	dsn := os.Getenv("RAPIDBYTE_TEST_PG_LOGICAL_DSN")
	if dsn == "" {
		pgtest.Missing(t, `RAPIDBYTE_TEST_PG_LOGICAL_DSN is unset: run eval "$(scripts/pg-logical.sh)"`)
	}
	t.Setenv("RAPIDBYTE_TEST_PG_DSN", dsn)
	cfg := pgtest.NewDB(t)
	ctl := pgtest.Connect(t, cfg)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	slot := "rb_test_" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() { // before the database is dropped
		c := pgtest.Connect(t, cfg)
		_, _ = pgclient.Query(context.Background(), c, "SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1", []byte(slot))
	})
	pgtest.Exec(t, ctl, "CREATE TABLE ev (id bigint PRIMARY KEY, v text); INSERT INTO ev SELECT g, 'x' FROM generate_series(1, 3) g")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tbl, err := LoadTable(ctx, ctl, "public", "ev", nil)
	if err != nil {
		t.Fatal(err)
	}
	repl, err := pgclient.ConnectReplication(ctx, cfg, pgclient.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	defer repl.Close(context.Background())
	var stop atomic.Bool
	e := &followEmitter{}
	req := Request{Slot: slot, Publication: slot, Tables: []Table{tbl}, Follow: true,
		Control: func(context.Context) (abi.FollowState, error) { return abi.FollowState{Stop: stop.Load()}, nil }}
	done := make(chan error, 1)
	readCtl := pgtest.Connect(t, cfg)
	go func() {
		_, err := Read(ctx, readCtl, repl, req, e)
		done <- err
	}()
	await := func(what string, cond func(cp abi.Checkpoint, rows int) bool) {
		t.Helper()
		for {
			if cp, rows, ok := e.last(); ok && cond(cp, rows) {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("read ended while waiting for %s: %v", what, err)
			case <-ctx.Done():
				t.Fatalf("%s: not within the test's time", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	await("the snapshot's checkpoint", func(cp abi.Checkpoint, rows int) bool { return cp.Records == 3 })

	// One transaction, then nothing: it is checkpointed all the same.
	pgtest.Exec(t, ctl, "BEGIN; INSERT INTO ev VALUES (4, 'y'); UPDATE ev SET v = 'z' WHERE id = 1; COMMIT")
	await("a checkpoint covering the quiet transaction", func(cp abi.Checkpoint, rows int) bool { return cp.Records == 5 })
	if _, rows, _ := e.last(); rows < 5 {
		t.Fatalf("checkpoint covers 5 changes, but %d rows were emitted before it", rows)
	}

	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("read: %v", err)
	}
}

// TestFollowCheckpointsWithoutKeepalive: a follow read checkpoints a
// transaction once nothing follows it, on its own read deadline: the WAL
// sender here sends no keepalive (a real one busy decoding other WAL does
// not either), and neither the interval (an hour) nor the row count comes.
// Control stops the read only after that checkpoint, so without it the
// read would not end.
func TestFollowCheckpointsWithoutKeepalive(t *testing.T) {
	const start = pgrepl.LSN(0x1000)
	release := make(chan struct{})
	defer close(release)
	repl := startFakeWALSender(t, func(w *fakeWALSender) {
		w.txn(0x8000, 0x9100, "1")
		<-release // then silence, the connection open
	})
	r, e := newTestReader(t, repl, start, endless)
	r.req.Follow, r.req.CheckpointInterval, r.req.CheckpointRows = true, time.Hour, 1<<30
	r.follow.headAt = time.Now().Add(time.Hour) // no head query: the test has no control connection
	r.req.Control = func(context.Context) (abi.FollowState, error) {
		return abi.FollowState{Stop: len(e.checkpoints) > 0}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.stream(ctx, start); err != nil {
		t.Fatal(err)
	}
	want := pgrepl.LSN(0x9100).String()
	if len(e.checkpoints) != 2 || e.checkpoints[0] != want || e.checkpoints[1] != want || e.rows != 1 {
		t.Fatalf("checkpoints %v after %d rows; want the quiet one at the commit's end %s, then the stop's", e.checkpoints, e.rows, want)
	}
}
