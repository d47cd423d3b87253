package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
	"github.com/rapidbyte/rapidbyte/worker/internal/modules"
)

// DefaultRetryAfter is the retry hint of a BusyError.
const DefaultRetryAfter = time.Second

// Resolver finds compiled modules.
type Resolver interface {
	Resolve(ctx context.Context, ref modules.Ref) (guest.Module, error)
}

// Metrics receives per-operation measurements; all methods must be safe for
// concurrent use.
type Metrics interface {
	// GuestStarted and GuestFinished bracket every guest instance.
	GuestStarted()
	GuestFinished()
	// Processed counts rows and Arrow bytes a connector read or wrote.
	Processed(connector, op string, rows, bytes uint64)
}

// Config configures a Runner.
type Config struct {
	// MaxStreams bounds concurrent guest instances (> 0).
	MaxStreams int
	// QueueTimeout is how long an operation waits for a slot.
	QueueTimeout time.Duration
	// RequestTimeout bounds an operation that asks for no timeout of its own
	// (0 = unbounded).
	RequestTimeout time.Duration
	// Memory, when set, is the budget every operation reserves its guest
	// memory cap against (a stream's Limits.MaxMemoryBytes, else
	// GuestMemory) while it holds a slot; nil = slots only.
	Memory *MemoryBudget
	// GuestMemory is the default per-guest memory cap in bytes.
	GuestMemory int64
	// Metrics may be nil.
	Metrics Metrics
	// Logger may be nil.
	Logger hclog.Logger
}

// Runner runs connector operations. It is safe for concurrent use.
type Runner struct {
	cfg      Config
	resolver Resolver
	log      hclog.Logger
	slots    chan struct{}

	pairMu       sync.Mutex
	pairs        map[string]*pair // admitted stream halves by pair key
	pairsChanged chan struct{}    // closed (and replaced) when a pair is added
}

// New returns a Runner.
func New(resolver Resolver, cfg Config) *Runner {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 1
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Runner{cfg: cfg, resolver: resolver, log: log, slots: make(chan struct{}, cfg.MaxStreams),
		pairs: map[string]*pair{}, pairsChanged: make(chan struct{})}
}

// InUse returns the number of guest slots taken.
func (r *Runner) InUse() int { return len(r.slots) }

// ModuleLoadObserver is implemented by sinks and sources that want to know
// how long the module took to resolve and compile before the guest starts.
type ModuleLoadObserver interface {
	ModuleLoaded(d time.Duration)
}

// ContextObserver is implemented by sinks that block (a copy's queue to
// its destination): before the guest starts, they get the stream's
// context, which ends at the stream's deadline, so that a guest blocked in
// them returns when told to stop instead of being abandoned.
type ContextObserver interface {
	StreamContext(ctx context.Context)
}

// StreamRequest reads or writes one stream.
type StreamRequest struct {
	Ref          modules.Ref
	Config       json.RawMessage
	Stream       abi.StreamSpec
	Resume       *abi.Checkpoint
	AllowedHosts []string
	// Timeout bounds the operation; 0 means the runner's RequestTimeout.
	Timeout time.Duration
	RunID   string
	Attempt uint32
	// Follow, for a follow read (Stream.Follow), carries what the
	// coordinator tells the read while it runs.
	Follow guest.Follow
	// Pair is the key the coordinator gave both halves of the stream
	// (see admitPaired); "" for none.
	Pair string
}

// Result summarises a read or a write.
type Result struct {
	guest.Stats
	// ModuleLoad is the time spent resolving and compiling the module.
	ModuleLoad time.Duration
}

// Spec returns a module's manifest, with its digest.
func (r *Runner) Spec(ctx context.Context, ref modules.Ref) (abi.Manifest, error) {
	m, err := r.resolver.Resolve(ctx, ref)
	if err != nil {
		return abi.Manifest{}, err
	}
	man := m.Manifest()
	man.Digest = m.Digest()
	return man, nil
}

// Discover runs a source's discover; names, when set, are the streams the
// caller needs (abi.Request.Names).
func (r *Runner) Discover(ctx context.Context, ref modules.Ref, config json.RawMessage, names []string) (*abi.Catalog, error) {
	var cat *abi.Catalog
	err := r.unary(ctx, ref, abi.OpDiscover, abi.RoleSource, config, func(ctx context.Context, m guest.Module, inv guest.Invocation) error {
		inv.Request.Names = names
		var err error
		cat, err = m.Discover(ctx, inv)
		return err
	})
	return cat, err
}

// Check runs a connector's check. role ("source", "destination" or "")
// must be one of the module's roles when set; streams, for a destination,
// are the streams to report schema drift for.
func (r *Runner) Check(ctx context.Context, ref modules.Ref, config json.RawMessage, role string, streams []abi.StreamSchema) (*abi.CheckResult, error) {
	var res *abi.CheckResult
	err := r.unary(ctx, ref, abi.OpCheck, role, config, func(ctx context.Context, m guest.Module, inv guest.Invocation) error {
		var err error
		inv.Request.Streams = streams
		res, err = m.Check(ctx, inv)
		return err
	})
	return res, err
}

// Release runs a source's check export in release mode: the source drops
// what it holds on the server for pipeline's change stream (abi.Request.Release).
func (r *Runner) Release(ctx context.Context, ref modules.Ref, config json.RawMessage, pipeline string) (*abi.CheckResult, error) {
	var res *abi.CheckResult
	err := r.unary(ctx, ref, abi.OpCheck, abi.RoleSource, config, func(ctx context.Context, m guest.Module, inv guest.Invocation) error {
		var err error
		inv.Request.Release = pipeline
		res, err = m.Check(ctx, inv)
		return err
	})
	return res, err
}

func (r *Runner) unary(ctx context.Context, ref modules.Ref, op abi.Op, role string, config json.RawMessage,
	call func(context.Context, guest.Module, guest.Invocation) error,
) error {
	m, _, err := r.prepare(ctx, ref, role)
	if err != nil {
		return err
	}
	log := r.log.With("connector", m.Manifest().ID, "op", string(op))
	ctx, cancel := r.deadline(ctx, 0)
	defer cancel()
	adm, err := r.admit(ctx, r.cfg.GuestMemory)
	if err != nil {
		return err
	}
	defer adm.Release()
	inv := guest.Invocation{
		Request: abi.Request{Op: op, ConnectorID: m.Manifest().ID, Config: config},
		Timeout: r.cfg.RequestTimeout,
		Logger:  r.log,
	}
	start := time.Now()
	err = call(ctx, m, inv)
	log.Debug("done", "duration", time.Since(start), "error", err)
	return err
}

// Read runs a source's read of one stream, handing batches to sink. The
// host enforces the stream's projection and batch limits on what the
// connector emits (see package contract): sink never sees a column the
// stream did not ask for, nor a batch over its limits.
func (r *Runner) Read(ctx context.Context, req StreamRequest, sink guest.ReadSink) (Result, error) {
	return r.ReadAdmitted(ctx, nil, req, sink)
}

// Write runs a destination's write of one stream, pulling batches from src
// and calling ack after each commit.
func (r *Runner) Write(ctx context.Context, req StreamRequest, src guest.WriteSource, ack guest.AckFunc) (Result, error) {
	return r.WriteAdmitted(ctx, nil, req, src, ack)
}

// WriteAdmitted is Write under adm, an Admission taken before the request
// was read (nil: admit now); its reservation is resized to the stream's cap
// and it is released when the write ends.
func (r *Runner) WriteAdmitted(ctx context.Context, adm *Admission, req StreamRequest, src guest.WriteSource, ack guest.AckFunc) (Result, error) {
	if adm != nil {
		defer adm.Release()
	}
	return r.stream(ctx, adm, req, abi.OpWrite, abi.RoleDestination, src, func(ctx context.Context, m guest.Module, inv guest.Invocation) (guest.Stats, error) {
		return m.Write(ctx, inv, src, ack)
	})
}

// stream runs one stream operation op of a connector with role: it
// resolves the module (telling peer, the sink or source, the load time if
// it is a ModuleLoadObserver), takes a guest slot and reserves the
// stream's guest memory cap (or resizes adm's reservation to it) under the
// request's deadline and calls call, then records and logs the stats.
func (r *Runner) stream(ctx context.Context, adm *Admission, req StreamRequest, op abi.Op, role string, peer any,
	call func(context.Context, guest.Module, guest.Invocation) (guest.Stats, error),
) (Result, error) {
	m, load, err := r.prepare(ctx, req.Ref, role)
	if err != nil {
		return Result{}, err
	}
	if o, ok := peer.(ModuleLoadObserver); ok {
		o.ModuleLoaded(load)
	}
	var cancel context.CancelFunc
	if req.Stream.Follow && req.Timeout == 0 {
		// A follow stream runs until the coordinator stops it: only a
		// timeout the pipeline set bounds it.
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = r.deadline(ctx, req.Timeout)
	}
	defer cancel()
	if o, ok := peer.(ContextObserver); ok {
		o.StreamContext(ctx)
	}
	want := r.memoryWant(req)
	if adm == nil {
		if adm, err = r.admitPaired(ctx, req.Pair, pairRead, want); err != nil {
			return Result{}, err
		}
		defer adm.Release()
	} else if err := adm.resize(ctx, want, r.cfg.QueueTimeout); err != nil {
		return Result{}, err
	}
	inv := r.streamInvocation(m, op, req)
	stats, err := call(ctx, m, inv)
	r.processed(m, op, stats)
	inv.Logger.Debug(string(op)+" done", "connector", m.Manifest().ID, "records", stats.Records, "bytes", stats.Bytes, "duration", stats.Duration, "error", err)
	return Result{Stats: stats, ModuleLoad: load}, err
}

func (r *Runner) streamInvocation(m guest.Module, op abi.Op, req StreamRequest) guest.Invocation {
	stream := req.Stream
	stream.RunID, stream.Attempt = req.RunID, req.Attempt
	timeout := req.Timeout
	if timeout == 0 && !req.Stream.Follow {
		timeout = r.cfg.RequestTimeout
	}
	return guest.Invocation{
		Request: abi.Request{
			Op: op, ConnectorID: m.Manifest().ID, Config: req.Config, Stream: &stream, Resume: req.Resume,
		},
		AllowedHosts: req.AllowedHosts,
		Timeout:      timeout,
		Follow:       req.Follow,
		Logger:       r.log.With("run_id", req.RunID, "attempt", req.Attempt, "stream", req.Stream.Name),
	}
}

func (r *Runner) processed(m guest.Module, op abi.Op, s guest.Stats) {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.Processed(m.Manifest().ID, string(op), s.Records, s.Bytes)
	}
}

// prepare resolves the module and checks that it has role.
func (r *Runner) prepare(ctx context.Context, ref modules.Ref, role string) (guest.Module, time.Duration, error) {
	start := time.Now()
	m, err := r.resolver.Resolve(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	if role != "" && !slices.Contains(m.Manifest().Roles, role) {
		return nil, 0, fmt.Errorf("%w: connector %s is not a %s (roles %v)", ErrInvalidRequest, m.Manifest().ID, role, m.Manifest().Roles)
	}
	return m, time.Since(start), nil
}

func (r *Runner) deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		d = r.cfg.RequestTimeout
	}
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// acquire takes a guest slot, waiting up to QueueTimeout.
func (r *Runner) acquire(ctx context.Context) (func(), error) {
	select {
	case r.slots <- struct{}{}:
		return r.took(), nil
	default:
	}
	busy := &BusyError{MaxStreams: r.cfg.MaxStreams, RetryAfter: DefaultRetryAfter}
	if r.cfg.QueueTimeout <= 0 {
		return nil, busy
	}
	timer := time.NewTimer(r.cfg.QueueTimeout)
	defer timer.Stop()
	select {
	case r.slots <- struct{}{}:
		return r.took(), nil
	case <-timer.C:
		return nil, busy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// took counts a slot just taken and returns its release. The gauge counts
// down before the slot is freed (and up after it is taken), so the guests
// holding slots never show more than MaxStreams; a paired half that joins
// a slot counts as a guest too (see admitPaired), up to 2*MaxStreams.
func (r *Runner) took() func() {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.GuestStarted()
	}
	return func() {
		if r.cfg.Metrics != nil {
			r.cfg.Metrics.GuestFinished()
		}
		<-r.slots
	}
}
