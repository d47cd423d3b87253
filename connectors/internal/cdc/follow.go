package cdc

import (
	"context"
	"fmt"
	"time"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgrepl"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// A follow read (Request.Follow) has no end position: it streams until
// Control asks it to stop, then ends at the next commit boundary with a
// checkpoint. While it runs it
//   - confirms the slot up to each checkpoint the coordinator persisted
//     (Control's Persisted), so the slot holds back no WAL the destination
//     already has;
//   - checkpoints as soon as it is caught up, not only every
//     CheckpointInterval (followInterval by default), so that changes
//     reach the destination quickly: when no message followed the last
//     commit for quietWait, or the server's keepalive says it sent
//     everything; but not sooner than followMinGap after the previous
//     checkpoint, so a stream of small transactions is committed in
//     groups rather than one destination commit (and one coordinator
//     checkpoint) per source transaction (see readDeadline);
//   - checkpoints at the server's sent position every CheckpointInterval
//     while idle, so WAL written for other tables is released too;
//   - puts the checkpoint's place in the log (abi.LogPosition) on each
//     checkpoint, for the coordinator's lag.

// endless is the end position of a follow read.
const endless = pgrepl.LSN(^uint64(0))

// controlEvery is how often a follow read polls Control.
const controlEvery = 200 * time.Millisecond

// headEvery is how often a follow read asks the server for its WAL flush
// position (the head its lag is measured against).
const headEvery = time.Second

// followInterval is a follow read's default CheckpointInterval: changes
// that flow without a pause still reach the destination this often.
const followInterval = 200 * time.Millisecond

// quietWait is how long a follow read with pending changes waits after a
// commit for the next message before it takes the stream as caught up and
// checkpoints. Under load the next message is already there, so batches
// keep growing up to CheckpointInterval or CheckpointRows.
const quietWait = 5 * time.Millisecond

// followMinGap is the shortest time between a checkpoint and the next one
// of a caught-up follow read.
const followMinGap = 100 * time.Millisecond

// readDeadline returns the deadline of the next receive at now. A follow
// read with pending changes outside a transaction waits until they are
// due: quietWait from now, and not before followMinGap after the last
// checkpoint. A receive that times out then checkpoints them (stream).
func (r *reader) readDeadline(now time.Time) time.Time {
	if r.req.Follow && !r.inTx && r.pending > 0 {
		due := now.Add(quietWait)
		if gap := r.lastCP.Add(followMinGap); gap.After(due) {
			due = gap
		}
		return due
	}
	return now.Add(idlePoll)
}

// followState is a follow read's part of the reader.
type followState struct {
	polled     time.Time  // last Control poll
	stop       bool       // Control asked to stop: end at the next commit
	cpLSN      pgrepl.LSN // the position of the last checkpoint emitted
	head       pgrepl.LSN // the newest server WAL position seen
	headAt     time.Time  // when head was last read from the server
	commitTime time.Time  // commit time of the last transaction read
	caughtUp   bool       // nothing was left to read at the last checkpoint
}

// control polls Control (at most every controlEvery, now being the time):
// it confirms the slot up to a newly persisted checkpoint, refreshes the
// server head and, on a stop request outside a transaction, ends the read
// with a checkpoint.
func (r *reader) control(ctx context.Context, now time.Time) (stop bool, err error) {
	if now.Sub(r.follow.polled) < controlEvery {
		return false, nil
	}
	r.follow.polled = now
	if now.Sub(r.follow.headAt) >= headEvery {
		r.follow.headAt = now
		rows, err := pgclient.Query(ctx, r.ctl, "SELECT pg_current_wal_flush_lsn()::text")
		if err != nil {
			return false, fmt.Errorf("read the WAL end: %w", err)
		}
		if lsn, err := pgrepl.ParseLSN(string(rows[0][0])); err == nil {
			r.follow.head = max(r.follow.head, lsn)
		}
	}
	st, err := r.req.Control(ctx)
	if err != nil {
		return false, err
	}
	if cp := st.Persisted; cp != nil {
		lsn, err := resumeLSN(cp)
		if err != nil {
			return false, err
		}
		// Only a position this read checkpointed may confirm the slot.
		if lsn > r.confirm && lsn <= r.follow.cpLSN {
			r.confirm = lsn
			if err := r.sendStatus(false); err != nil {
				return false, err
			}
		}
	}
	if st.Stop {
		r.follow.stop = true
		if !r.inTx {
			return true, r.finish(r.lastEnd)
		}
	}
	return false, nil
}

// followIdle handles a keepalive that arrived outside a transaction: the
// read has everything the server sent up to end. Pending changes are
// checkpointed at once, or at followMinGap after the last checkpoint (the
// read deadline, see readDeadline); with none, the position moves to end
// every CheckpointInterval.
func (r *reader) followIdle(end pgrepl.LSN) error {
	r.follow.head = max(r.follow.head, end)
	if r.pending == 0 && (end <= r.follow.cpLSN || time.Since(r.lastCP) < r.req.CheckpointInterval) {
		return nil
	}
	if r.pending > 0 && time.Since(r.lastCP) < followMinGap {
		return nil
	}
	r.follow.caughtUp = true
	r.lastEnd = max(r.lastEnd, end)
	return r.checkpoint(r.lastEnd)
}

// logPosition places a checkpoint at lsn in the log. The commit time is
// left 0 when the read was caught up: the lag in seconds is then 0.
func (r *reader) logPosition(lsn pgrepl.LSN) *abi.LogPosition {
	lp := &abi.LogPosition{Position: uint64(lsn), Head: uint64(max(r.follow.head, lsn))}
	if !r.follow.caughtUp && !r.follow.commitTime.IsZero() {
		lp.CommitTimeMicros = r.follow.commitTime.UnixMicro()
	}
	return lp
}
