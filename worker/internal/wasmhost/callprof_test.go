package wasmhost

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// callProfile counts guest function calls through a wazero function
// listener. In a Go wasm guest every call that was not inlined is costly,
// so per-function call counts point at per-row and per-value calls that a
// tight loop should absorb. Set RAPIDBYTE_GUEST_CALLPROF=1 when running a
// Postgres benchmark to print the top callers (compiled without the
// compilation cache, and much slower than a normal run).
type callProfile struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

func newCallProfile() *callProfile { return &callProfile{counts: map[string]*atomic.Int64{}} }

// NewFunctionListener implements experimental.FunctionListenerFactory.
func (p *callProfile) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := def.DebugName()
	c := p.counts[name]
	if c == nil {
		c = new(atomic.Int64)
		p.counts[name] = c
	}
	return countListener{c}
}

type countListener struct{ n *atomic.Int64 }

func (l countListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.n.Add(1)
}
func (countListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}
func (countListener) Abort(context.Context, api.Module, api.FunctionDefinition, error)    {}

// write prints the top n functions by call count.
func (p *callProfile) write(w io.Writer, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	type row struct {
		name  string
		calls int64
	}
	var rows []row
	for name, c := range p.counts {
		if v := c.Load(); v > 0 {
			rows = append(rows, row{name, v})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].calls > rows[j].calls })
	for i, r := range rows {
		if i == n {
			break
		}
		fmt.Fprintf(w, "%12d  %s\n", r.calls, r.name)
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
