package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/relay"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// memStore is an in-memory runStore.
type memStore struct {
	mu       sync.Mutex
	seq      int
	runs     map[string]store.Run
	attempts map[string][]store.Attempt
	streams  map[string]map[string]store.StreamResult
	cursors  map[string]store.Checkpoint
	puts     []store.Checkpoint // every PutCursor, in order
	failPuts int                // the next failPuts PutCursor calls fail
	leases   map[string]store.Lease
}

func newMemStore() *memStore {
	return &memStore{
		runs: map[string]store.Run{}, attempts: map[string][]store.Attempt{},
		streams: map[string]map[string]store.StreamResult{}, cursors: map[string]store.Checkpoint{},
		leases: map[string]store.Lease{},
	}
}

func (m *memStore) CreateRun(_ context.Context, r store.Run) (store.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.IdempotencyKey != "" {
		for _, x := range m.runs {
			if x.IdempotencyKey == r.IdempotencyKey {
				if x.PipelineYAML != r.PipelineYAML {
					return store.Run{}, false, store.ErrConflict
				}
				return x, true, nil
			}
		}
	}
	m.seq++
	if r.ID == "" {
		r.ID = fmt.Sprintf("run-%d", m.seq)
	}
	r.CreatedAt = time.Unix(int64(m.seq), 0)
	r.UpdatedAt = time.Now()
	m.runs[r.ID] = r
	return r, false, nil
}

func (m *memStore) GetRun(_ context.Context, id string) (store.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return store.Run{}, store.ErrNotFound
	}
	return r, nil
}

func (m *memStore) UpdateRun(_ context.Context, r store.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.runs[r.ID]
	if !ok {
		return store.ErrNotFound
	}
	r.IdempotencyKey, r.PipelineYAML, r.CreatedAt, r.CancelRequested = old.IdempotencyKey, old.PipelineYAML, old.CreatedAt, old.CancelRequested
	r.UpdatedAt = time.Now()
	m.runs[r.ID] = r
	return nil
}

func (m *memStore) RequestCancel(_ context.Context, id string) (store.Run, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return store.Run{}, false, store.ErrNotFound
	}
	if r.State.Final() {
		return r, false, nil
	}
	r.CancelRequested = true
	m.runs[id] = r
	return r, true, nil
}

func (m *memStore) ListRuns(_ context.Context, f store.ListFilter) ([]store.Run, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Run
	for _, r := range m.runs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, "", nil
}

func (m *memStore) ListUnfinished(ctx context.Context) ([]store.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // as the SQL stores do
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Run
	for _, r := range m.runs {
		if !r.State.Final() {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) AddAttempt(_ context.Context, a store.Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.attempts[a.RunID] {
		if x.Number == a.Number {
			return store.ErrConflict
		}
	}
	m.attempts[a.RunID] = append(m.attempts[a.RunID], a)
	return nil
}

func (m *memStore) FinishAttempt(_ context.Context, runID string, n int, at time.Time, e *runerr.ConnectorError) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.attempts[runID] {
		if x.Number == n {
			m.attempts[runID][i].FinishedAt, m.attempts[runID][i].Error = at, e
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memStore) ListAttempts(_ context.Context, runID string) ([]store.Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.Attempt(nil), m.attempts[runID]...), nil
}

func (m *memStore) PutStreamResult(_ context.Context, r store.StreamResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[r.RunID] == nil {
		m.streams[r.RunID] = map[string]store.StreamResult{}
	}
	m.streams[r.RunID][fmt.Sprintf("%s/%d", r.Stream, r.Partition)] = r
	return nil
}

func (m *memStore) ListStreamResults(_ context.Context, runID string) ([]store.StreamResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.StreamResult
	for _, r := range m.streams[runID] {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

func (m *memStore) GetCursor(_ context.Context, p, s string, part uint32) (*store.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp, ok := m.cursors[fmt.Sprintf("%s/%s/%d", p, s, part)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &cp, nil
}

func (m *memStore) PutCursor(_ context.Context, p, _ string, cp store.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPuts > 0 {
		m.failPuts--
		return errors.New("state store unavailable")
	}
	m.cursors[fmt.Sprintf("%s/%s/%d", p, cp.Stream, cp.Partition)] = cp
	m.puts = append(m.puts, cp)
	return nil
}

func (m *memStore) DeleteCursors(_ context.Context, p, stream string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.cursors {
		if strings.HasPrefix(k, p+"/"+stream+"/") {
			delete(m.cursors, k)
		}
	}
	return nil
}

// relayCall is one recorded Relay call.
type relayCall struct {
	Job relay.Job
}

// fakeRelay answers Relay with a scripted function.
type fakeRelay struct {
	mu    sync.Mutex
	calls []relayCall
	fn    func(ctx context.Context, job relay.Job, n int, progress func(relay.Progress)) (relay.Result, error)
}

func (f *fakeRelay) Relay(ctx context.Context, job relay.Job, progress func(relay.Progress)) (relay.Result, error) {
	f.mu.Lock()
	n := 0
	for _, c := range f.calls {
		if c.Job.Stream.Name == job.Stream.Name && c.Job.PartitionIndex == job.PartitionIndex {
			n++
		}
	}
	f.calls = append(f.calls, relayCall{Job: job})
	f.mu.Unlock()
	return f.fn(ctx, job, n+1, progress)
}

func (f *fakeRelay) HoldSnapshot(context.Context, relay.Job) (string, func(), error) {
	return "", nil, relay.ErrNoSnapshot
}

func (f *fakeRelay) callsFor(stream string) []relay.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []relay.Job
	for _, c := range f.calls {
		if c.Job.Stream.Name == stream {
			out = append(out, c.Job)
		}
	}
	return out
}

// okResult is a successful relay of records rows with one acked checkpoint.
func okResult(job relay.Job, records uint64, progress func(relay.Progress)) relay.Result {
	cp := &store.Checkpoint{Stream: job.Stream.Name, Partition: uint32(job.PartitionIndex), Records: records, Bytes: records * 10,
		CursorField: "id", CursorValue: store.IntCursor(int64(records))}
	p := relay.Progress{RecordsRead: records, BytesRead: records * 10, RecordsWritten: records, BytesWritten: records * 10,
		Checkpoint: cp, SourceWorker: "w1:1", DestWorker: "w2:1", SourceModuleLoadMs: 5, DestModuleLoadMs: 6}
	progress(p)
	return relay.Result{Progress: p, Final: true, Duration: time.Millisecond}
}

func (m *memStore) AcquireLease(_ context.Context, l store.Lease, now time.Time) (store.Lease, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leases[l.Pipeline]; ok && !old.Expired(now) && (old.RunID != l.RunID || old.Owner != l.Owner) {
		return old, false, nil
	}
	m.leases[l.Pipeline] = l
	return l, true, nil
}

func (m *memStore) RenewLease(_ context.Context, l store.Lease) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leases[l.Pipeline]; !ok || old.RunID != l.RunID || old.Owner != l.Owner {
		return false, nil
	}
	m.leases[l.Pipeline] = l
	return true, nil
}

func (m *memStore) ReleaseLease(_ context.Context, pipeline, runID, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leases[pipeline]; ok && old.RunID == runID && old.Owner == owner {
		delete(m.leases, pipeline)
	}
	return nil
}

func (m *memStore) GetLease(_ context.Context, pipeline string) (store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[pipeline]
	if !ok {
		return store.Lease{}, store.ErrNotFound
	}
	return l, nil
}

func (m *memStore) ListLeases(_ context.Context) ([]store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Lease
	for _, l := range m.leases {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pipeline < out[j].Pipeline })
	return out, nil
}
