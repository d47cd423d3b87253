package wasmhost

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// callProfile counts guest function calls and estimates each function's
// self time through a wazero function listener: the time between two
// listener events is charged to the function on top of the guest stack.
// Listener overhead inflates every call, so self times of call-heavy
// functions are overstated; read them together with the counts. In a Go
// wasm guest every call that was not inlined is costly, so per-row and
// per-value calls show up here. Set RAPIDBYTE_GUEST_CALLPROF=1 when running
// a Postgres benchmark (compiled without the compilation cache, much slower
// than a normal run). Guests are single-threaded; one guest at a time.
type callProfile struct {
	mu    sync.Mutex
	funcs map[string]*funcStats
	stack []*funcStats
	last  time.Time
}

type funcStats struct {
	name  string
	calls int64
	self  time.Duration
}

func newCallProfile() *callProfile { return &callProfile{funcs: map[string]*funcStats{}} }

// NewFunctionListener implements experimental.FunctionListenerFactory.
func (p *callProfile) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := def.DebugName()
	f := p.funcs[name]
	if f == nil {
		f = &funcStats{name: name}
		p.funcs[name] = f
	}
	return &timeListener{p: p, f: f}
}

type timeListener struct {
	p *callProfile
	f *funcStats
}

// charge gives the time since the last event to the function on top.
func (p *callProfile) charge() {
	now := time.Now()
	if n := len(p.stack); n > 0 && !p.last.IsZero() {
		p.stack[n-1].self += now.Sub(p.last)
	}
	p.last = now
}

func (l *timeListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	p := l.p
	p.mu.Lock()
	p.charge()
	l.f.calls++
	p.stack = append(p.stack, l.f)
	p.mu.Unlock()
}

func (l *timeListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	p := l.p
	p.mu.Lock()
	p.charge()
	if n := len(p.stack); n > 0 {
		p.stack = p.stack[:n-1]
	}
	p.mu.Unlock()
}

func (l *timeListener) Abort(ctx context.Context, mod api.Module, def api.FunctionDefinition, _ error) {
	l.After(ctx, mod, def, nil)
}

// write prints the top n functions by self time, with call counts.
func (p *callProfile) write(w io.Writer, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rows []*funcStats
	var total time.Duration
	for _, f := range p.funcs {
		if f.calls > 0 {
			rows = append(rows, f)
			total += f.self
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].self > rows[j].self })
	fmt.Fprintf(w, "%8s %6s %12s  %s\n", "self", "%", "calls", "function")
	for i, f := range rows {
		if i == n {
			break
		}
		fmt.Fprintf(w, "%8.3fs %5.1f%% %12d  %s\n", f.self.Seconds(), 100*f.self.Seconds()/total.Seconds(), f.calls, f.name)
	}
}

// profiledContext returns ctx carrying a call profile when
// RAPIDBYTE_GUEST_CALLPROF is set, and a function printing it.
func profiledContext(ctx context.Context) (context.Context, func()) {
	if os.Getenv("RAPIDBYTE_GUEST_CALLPROF") == "" {
		return ctx, func() {}
	}
	p := newCallProfile()
	return experimental.WithFunctionListenerFactory(ctx, p), func() { p.write(os.Stderr, 60) }
}
