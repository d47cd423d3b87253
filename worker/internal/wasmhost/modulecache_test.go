package wasmhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// loadedModules returns the digests of the loaded modules, most recently
// used first.
func (r *Runtime) loadedModules() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for e := r.lru.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*Module).digest)
	}
	return out
}

// newCacheRuntime returns a runtime whose module cache holds budget bytes.
func newCacheRuntime(t testing.TB, budget int64) *Runtime {
	t.Helper()
	ctx := context.Background()
	rt, err := New(ctx, Config{CacheDir: cacheDir(), Logger: testLogger, MemoryLimitMiB: 128, ModuleCacheBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

func readGenerated(t *testing.T, m *Module, rows int) {
	t.Helper()
	sink := &countSink{}
	if _, err := m.Read(context.Background(), readInvocation(t, map[string]any{"rows": rows}), sink); err != nil {
		t.Fatal(err)
	}
	if sink.rows != int64(rows) {
		t.Fatalf("read %d rows, want %d", sink.rows, rows)
	}
}

// Loaded modules stay loaded until their estimated cost exceeds the
// budget; then the least recently used goes, and a module evicted while a
// caller holds it loads again on its next use.
func TestModuleCacheEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	gen, err := os.ReadFile(wasmPath("test-generator"))
	if err != nil {
		t.Fatal(err)
	}
	faulty, err := os.ReadFile(wasmPath("test-faulty"))
	if err != nil {
		t.Fatal(err)
	}
	genCost, faultyCost := int64(len(gen))*ModuleCostFactor, int64(len(faulty))*ModuleCostFactor

	t.Run("both fit", func(t *testing.T) {
		rt := newCacheRuntime(t, genCost+faultyCost)
		if _, err := rt.LoadBytes(ctx, gen, Digest(gen)); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.LoadBytes(ctx, faulty, Digest(faulty)); err != nil {
			t.Fatal(err)
		}
		if got := rt.loadedModules(); !slices.Equal(got, []string{Digest(faulty), Digest(gen)}) {
			t.Errorf("loaded %v, want faulty then generator", got)
		}
	})

	t.Run("one fits", func(t *testing.T) {
		rt := newCacheRuntime(t, max(genCost, faultyCost))
		m, err := rt.LoadBytes(ctx, gen, Digest(gen))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rt.Loaded(Digest(gen)); !ok {
			t.Fatal("generator not loaded after LoadBytes")
		}
		if _, err := rt.LoadBytes(ctx, faulty, Digest(faulty)); err != nil {
			t.Fatal(err)
		}
		if got := rt.loadedModules(); !slices.Equal(got, []string{Digest(faulty)}) {
			t.Errorf("loaded %v, want only faulty (the generator evicted)", got)
		}
		if _, ok := rt.Loaded(Digest(gen)); ok {
			t.Error("evicted generator still served by Loaded")
		}
		// The caller still holding the evicted module can run it: it loads
		// again, and evicts faulty in turn.
		readGenerated(t, m, 1000)
		if got := rt.loadedModules(); !slices.Equal(got, []string{Digest(gen)}) {
			t.Errorf("loaded %v after running the evicted generator, want only it", got)
		}
	})

	t.Run("evicted while running", func(t *testing.T) {
		rt := newCacheRuntime(t, max(genCost, faultyCost))
		m, err := rt.LoadBytes(ctx, gen, Digest(gen))
		if err != nil {
			t.Fatal(err)
		}
		in, err := m.newInstance(ctx, "test", readInvocation(t, map[string]any{"rows": 10}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.LoadBytes(ctx, faulty, Digest(faulty)); err != nil {
			t.Fatal(err)
		}
		rt.mu.Lock()
		closed := m.closed
		rt.mu.Unlock()
		if closed {
			t.Error("compiled code released while an instance of it runs")
		}
		in.close(ctx)
		rt.mu.Lock()
		closed = m.closed
		rt.mu.Unlock()
		if !closed {
			t.Error("compiled code of the evicted module kept after its last instance closed")
		}
	})

	t.Run("changed bytes are another module", func(t *testing.T) {
		rt := newCacheRuntime(t, 0)
		m1, err := rt.LoadBytes(ctx, gen, Digest(gen))
		if err != nil {
			t.Fatal(err)
		}
		changed := append(slices.Clone(gen), 0, 3, 1, 'x', 0) // a trailing custom section "x"
		m2, err := rt.LoadBytes(ctx, changed, Digest(changed))
		if err != nil {
			t.Fatal(err)
		}
		if m1 == m2 || m2.Digest() != Digest(changed) {
			t.Errorf("changed module served as %s, want a module of its own digest %s", m2.Digest(), Digest(changed))
		}
		if got, ok := rt.Loaded(Digest(changed)); !ok || got != m2 {
			t.Error("changed module not loaded under its own digest")
		}
	})
}

// BenchmarkModuleFixedCost is the CPU one run of a tiny stream (100 rows
// from source-postgres into dest-postgres, RAPIDBYTE_PG_BENCH_DB) costs
// the worker: "kept" runs on modules the runtime kept loaded (a long-lived
// worker's later runs), "from-cache" loads both modules from the warm
// compilation cache first, as a fresh process or an evicted module does.
// Compare their cpu-s/op.
func BenchmarkModuleFixedCost(b *testing.B) {
	ctx := context.Background()
	base := pgBenchConfig(b, nil)
	db, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%v/%s?sslmode=disable", base["user"], base["port"], base["database"]))
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS rb_tiny AS SELECT g AS id, 'row ' || g AS name FROM generate_series(1, 100) g",
		"CREATE SCHEMA IF NOT EXISTS rb_wasm_bench_out",
		"DROP TABLE IF EXISTS rb_wasm_bench_out.rb_tiny",
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	_ = db.Close(ctx)
	dir := os.Getenv("RAPIDBYTE_CONNECTORS_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot, "dist", "connectors")
	}
	var wasm [2][]byte
	for i, id := range []string{"source-postgres", "dest-postgres"} {
		if wasm[i], err = os.ReadFile(filepath.Join(dir, id+".wasm")); err != nil {
			b.Fatal(err)
		}
	}
	load := func(rt *Runtime) (src, dst *Module) {
		s, err := rt.LoadBytes(ctx, wasm[0], Digest(wasm[0]))
		if err != nil {
			b.Fatal(err)
		}
		d, err := rt.LoadBytes(ctx, wasm[1], Digest(wasm[1]))
		if err != nil {
			b.Fatal(err)
		}
		return s, d
	}
	run := func(src, dst *Module) {
		inv := pgReadInvocation(b)
		inv.Request.Stream.Name = "rb_tiny"
		sink := &collectSink{}
		defer sink.release()
		if _, err := src.Read(ctx, inv, sink); err != nil {
			b.Fatal(err)
		}
		inv.Request.Config = rawJSON(b, pgBenchConfig(b, map[string]any{"schema": "rb_wasm_bench_out"}))
		inv.Request.Stream.WriteMode = abi.WriteAppend
		st, err := dst.Write(ctx, inv, &sliceSource{recs: sink.recs, cps: sink.cps}, nil)
		if err != nil || st.Records != 100 {
			b.Fatalf("write: %v %+v", err, st)
		}
	}
	newRuntime := func() *Runtime {
		rt, err := New(ctx, Config{CacheDir: cacheDir(), Logger: testLogger, FixedMemory: true})
		if err != nil {
			b.Fatal(err)
		}
		return rt
	}
	warm := newRuntime()
	run(load(warm)) // the compilation cache holds both modules from here on
	b.Run("kept", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			run(load(warm))
		}
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	})
	_ = warm.Close(ctx)
	b.Run("from-cache", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			rt := newRuntime()
			run(load(rt))
			_ = rt.Close(ctx)
		}
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	})
}
