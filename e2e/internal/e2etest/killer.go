package e2etest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ReadyFunc says whether a BackendKiller may strike now; it runs on the
// killer's goroutine with a pool to the watched database.
type ReadyFunc func(ctx context.Context, pool *pgxpool.Pool) bool

// CommittedAtLeast is a ReadyFunc that waits until dest-postgres's
// "<schema>"._rapidbyte_watermarks shows at least n records committed for
// some stream, i.e. the destination has committed mid-run.
func CommittedAtLeast(schema string, n int64) ReadyFunc {
	table := Ident(schema, "_rapidbyte_watermarks")
	return func(ctx context.Context, pool *pgxpool.Pool) bool {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			return false
		}
		var got int64
		if err := pool.QueryRow(ctx, "SELECT coalesce(max(records_committed), 0) FROM "+table).Scan(&got); err != nil {
			return false
		}
		return got >= n
	}
}

// BackendKiller polls pg_stat_activity of one database and terminates, once,
// the first active backend whose query starts with a prefix (e.g. "COPY")
// after its ReadyFunc agrees.
type BackendKiller struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	pid    uint32
	query  string
	at     time.Time
	lastEr error
}

// StartBackendKiller starts polling db every 20ms for an active backend
// (other than its own) whose query begins with queryPrefix
// (case-insensitive) and calls pg_terminate_backend on it once ready (nil:
// at once) returns true. Stop it with Stop; t.Cleanup also stops it.
func StartBackendKiller(t interface{ Cleanup(func()) }, db *DB, queryPrefix string, ready ReadyFunc) *BackendKiller {
	ctx, cancel := context.WithCancel(context.Background())
	k := &BackendKiller{cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { k.Stop() })
	go k.loop(ctx, db, queryPrefix, ready)
	return k
}

func (k *BackendKiller) loop(ctx context.Context, db *DB, prefix string, ready ReadyFunc) {
	defer close(k.done)
	pool, err := pgxpool.New(ctx, db.DSN)
	if err != nil {
		k.setErr(fmt.Errorf("open pool on %s: %w", db.Name, err))
		return
	}
	defer pool.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if ready != nil && !ready(ctx, pool) {
			continue
		}
		var pid uint32
		var query string
		err := pool.QueryRow(ctx, `SELECT pid, query FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE $2
			ORDER BY backend_start LIMIT 1`, db.Name, prefix+"%").Scan(&pid, &query)
		if err == pgx.ErrNoRows {
			continue
		}
		if err != nil {
			k.setErr(err)
			continue
		}
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
			k.setErr(fmt.Errorf("terminate backend %d: ok=%v err=%v", pid, ok, err))
			continue
		}
		k.mu.Lock()
		k.pid, k.query, k.at = pid, query, time.Now()
		k.mu.Unlock()
		return
	}
}

func (k *BackendKiller) setErr(err error) {
	k.mu.Lock()
	k.lastEr = err
	k.mu.Unlock()
}

// Stop ends polling (if still running) and waits for the goroutine.
func (k *BackendKiller) Stop() {
	k.cancel()
	<-k.done
}

// Killed returns the terminated backend's pid and query; pid 0 means none
// was terminated, and err is then the last polling error, if any.
func (k *BackendKiller) Killed() (pid uint32, query string, at time.Time, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pid, k.query, k.at, k.lastEr
}
