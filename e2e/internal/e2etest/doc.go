// Package e2etest holds the helpers of Rapidbyte's end-to-end tests: they
// drive the real binaries in <repo>/bin and the real connector modules in
// <repo>/dist/connectors against a real PostgreSQL.
//
// Typical use:
//
//	e2etest.RequireBinaries(t)                  // fails with "run make build wasm" when missing
//	src := e2etest.NewDatabase(t, "rb_e2a_full_src") // created now, dropped in t.Cleanup
//	dst := e2etest.NewDatabase(t, "rb_e2a_full_dst")
//	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v text)")
//	p := e2etest.Pipeline{Name: "full", Source: e2etest.PGConfig(src), Destination: e2etest.PGConfig(dst),
//		Streams: []e2etest.Stream{{Name: "t"}}, WriteMode: "append"}
//	env := e2etest.NewEmbeddedEnv(t)           // temp sqlite state, shared cache, connectors dir
//	res := e2etest.RunCLI(t, env, "run", "-o", "json", p.Write(t))
//	run := res.MustRunJSON(t)                  // parsed RunResult (from -o json or @@BENCH_JSON@@)
//	e2etest.RequireSameTable(t, src, dst, "public.t", "public.t", "id")
//
// Distributed mode: StartCluster(t, ClusterOptions{Workers: 2}) starts
// bin/rapidbyte-coordinator and N bin/rapidbyte-worker processes on free
// ports, each with its own sqlite state and the shared compilation cache
// (CacheDir), waits until their gRPC health service reports SERVING, and
// stops them in t.Cleanup; pass Cluster.Env() to RunCLI to use it.
//
// PostgreSQL comes from RAPIDBYTE_TEST_PG_DSN (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); tests are
// skipped only when it is unreachable. Binaries are never skipped: `make
// test` builds them first, so a missing binary is a failure.
package e2etest
