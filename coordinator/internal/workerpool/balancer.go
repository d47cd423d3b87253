package workerpool

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/connectivity"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// balancerName is the load-aware balancer of the pool's connection.
const balancerName = "rapidbyte_least_loaded"

func init() { balancer.Register(loadBuilder{}) }

// loadBuilder builds the least-loaded balancer: one pick_first child per
// worker endpoint (endpointsharding, as round_robin does, so client-side
// health checking works the same), and a picker that sends each call to the
// ready worker with the fewest calls in flight from this coordinator.
type loadBuilder struct{}

func (loadBuilder) Name() string { return balancerName }

func (loadBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &loadBalancer{ClientConn: cc, loads: newLoads()}
	b.child = endpointsharding.NewBalancer(b, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
	return b
}

// loadBalancer intercepts the children's state to install a placer picker.
type loadBalancer struct {
	balancer.ClientConn // UpdateState is overridden
	child               balancer.Balancer
	loads               *loads
}

func (b *loadBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	return b.child.UpdateClientConnState(balancer.ClientConnState{
		ResolverState: pickfirst.EnableHealthListener(s.ResolverState),
	})
}

func (b *loadBalancer) ResolverError(err error) { b.child.ResolverError(err) }

func (b *loadBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

func (b *loadBalancer) ExitIdle() { b.child.ExitIdle() }

func (b *loadBalancer) Close() { b.child.Close() }

// UpdateState replaces endpointsharding's round-robin picker by a placer
// over the ready endpoints (when none is ready, its picker reports why).
func (b *loadBalancer) UpdateState(state balancer.State) {
	var ready []readyEndpoint
	pending := 0
	for _, c := range endpointsharding.ChildStatesFromPicker(state.Picker) {
		if cs := c.State.ConnectivityState; cs == connectivity.Idle || cs == connectivity.Connecting {
			pending++
		}
		if c.State.ConnectivityState != connectivity.Ready || len(c.Endpoint.Addresses) == 0 {
			continue
		}
		ready = append(ready, readyEndpoint{addr: c.Endpoint.Addresses[0].Addr, picker: c.State.Picker})
	}
	if len(ready) == 0 {
		b.ClientConn.UpdateState(state)
		return
	}
	slices.SortFunc(ready, func(a, b readyEndpoint) int { return strings.Compare(a.addr, b.addr) })
	b.ClientConn.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: &loadPicker{ready: ready, pending: pending, loads: b.loads}})
}

type readyEndpoint struct {
	addr   string
	picker balancer.Picker
}

// loadPicker places each call with loads.place.
type loadPicker struct {
	ready []readyEndpoint // sorted by address
	// pending counts the workers still connecting: a call whose hint the
	// ready ones cannot honour waits for them (a fresh coordinator
	// otherwise put a stream's read and write on the first worker it
	// reached). A worker that fails to connect stops being pending.
	pending int
	loads   *loads
}

func (p *loadPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	addrs := make([]string, len(p.ready))
	for i, e := range p.ready {
		addrs[i] = e.addr
	}
	role := roleOf(info.FullMethodName)
	h, _ := info.Ctx.Value(hintKey{}).(hint)
	p.loads.mu.Lock()
	i, tier := p.loads.place(addrs, role, h)
	if tier > 0 && p.pending > 0 {
		p.loads.mu.Unlock()
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	res, err := p.ready[i].picker.Pick(info)
	if err != nil {
		p.loads.mu.Unlock()
		return res, err
	}
	p.loads.add(addrs[i], role, 1)
	p.loads.mu.Unlock()
	done := res.Done
	res.Done = func(di balancer.DoneInfo) {
		p.loads.mu.Lock()
		p.loads.add(addrs[i], role, -1)
		p.loads.mu.Unlock()
		if done != nil {
			done(di)
		}
	}
	return res, nil
}

// role is what a call does on a worker: a copy (CopyStream, a stream's
// read and write), a read (Flight DoGet, or DoExchange for a follow read),
// a write (DoPut), or anything else (Spec, Check, Discover).
type role int

const (
	roleOther role = iota
	roleCopy
	roleRead
	roleWrite
	numRoles
)

func roleOf(method string) role {
	switch method {
	case rapidbytev1.WorkerService_CopyStream_FullMethodName:
		return roleCopy
	case methodDoGet, methodDoExchange:
		return roleRead
	case methodDoPut:
		return roleWrite
	}
	return roleOther
}

// Flight data methods, as gRPC names them (CopyStream's is generated).
const (
	methodDoGet = "/arrow.flight.protocol.FlightService/DoGet"
	methodDoPut = "/arrow.flight.protocol.FlightService/DoPut"
	// methodDoExchange carries a follow read (relay/follow.go).
	methodDoExchange = "/arrow.flight.protocol.FlightService/DoExchange"
)

// load is one worker's calls in flight from this coordinator, by role.
type load struct {
	total  int
	byRole [numRoles]int
}

// loads tracks every worker's load across picker rebuilds (a worker that
// reconnects keeps its count: its calls' Done still decrement it).
type loads struct {
	mu     sync.Mutex
	byAddr map[string]load
	next   int // rotates ties between equally placed workers
}

func newLoads() *loads { return &loads{byAddr: map[string]load{}} }

// add changes addr's load by delta calls of role r. The caller holds mu.
func (l *loads) add(addr string, r role, delta int) {
	w := l.byAddr[addr]
	w.total += delta
	w.byRole[r] += delta
	if w.total == 0 {
		delete(l.byAddr, addr)
		return
	}
	l.byAddr[addr] = w
}

// place returns the index in addrs (at least one) of the worker for the
// next call of role r, and how far it is from what h asked (0: outside
// h.avoid and not h.apart; 1: h.apart; 2: in h.avoid). The caller holds mu. In order, it prefers: a worker
// not in h.avoid (workers that failed this stream before), then one other
// than h.apart (the worker serving the stream's other half), then the
// fewest calls in flight, then the fewest of the same role (so reads and
// writes both spread when many streams open at once), then the next worker
// in turn, so that equal workers take turns deterministically.
func (l *loads) place(addrs []string, r role, h hint) (int, int) {
	key := func(i int) [3]int {
		w, tier := l.byAddr[addrs[i]], 0
		if slices.Contains(h.avoid, addrs[i]) {
			tier = 2
		} else if addrs[i] == h.apart {
			tier = 1
		}
		return [3]int{tier, w.total, w.byRole[r]}
	}
	n := len(addrs)
	best, ties := l.next%n, 1
	bestKey := key(best)
	for k := 1; k < n; k++ {
		i := (l.next + k) % n
		ki := key(i)
		switch c := slices.Compare(ki[:], bestKey[:]); {
		case c < 0:
			best, bestKey, ties = i, ki, 1
		case c == 0:
			ties++
		}
	}
	if ties > 1 {
		l.next = (best + 1) % n
	}
	return best, bestKey[0]
}

// hint is what the caller tells the picker about one call (see withHint).
type hint struct {
	// avoid lists workers to use only when no other is ready.
	avoid []string
	// apart is a worker to use only when no other outside avoid is ready.
	apart string
}

// hintKey is the context key of a hint.
type hintKey struct{}

// withHint returns ctx carrying h for the picker.
func withHint(ctx context.Context, h hint) context.Context {
	if len(h.avoid) == 0 && h.apart == "" {
		return ctx
	}
	return context.WithValue(ctx, hintKey{}, h)
}
