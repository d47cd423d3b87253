package faults

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// secret returns a random password-like string.
func secret(t *testing.T, label string) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "rbE2bSecret" + label + hex.EncodeToString(b[:])
}

// TestSecretsDoNotLeak runs pipelines whose passwords come from ${VAR}
// (--var) and from literal YAML values, successful and failing (unreachable
// host, unknown role), plus check and discover, on a cluster logging at
// debug level; then it searches every output for the passwords: CLI
// stdout/stderr, coordinator and worker logs, status/runs (text and JSON),
// grpcurl GetRun/ListRuns and the SQLite state files.
func TestSecretsDoNotLeak(t *testing.T) {
	t.Parallel()
	e2etest.RequireBinaries(t)
	src := e2etest.NewDatabase(t, "rb_e2b_secret_src")
	dst := e2etest.NewDatabase(t, "rb_e2b_secret_dst")
	src.Exec(t, "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g")
	c := startCluster(t, clusterOpts{workers: 2, logLevel: "debug"})

	varPW, litPW, envPW := secret(t, "Var"), secret(t, "Lit"), secret(t, "Env")
	failVarPW, failLitPW := secret(t, "FailVar"), secret(t, "FailLit")
	secrets := []string{varPW, litPW, envPW, failVarPW, failLitPW}

	// ${PG_PASSWORD} also resolves from the coordinator's environment: the
	// operator allows it (--env-allow, here as RAPIDBYTE_ENV_ALLOW).
	if err := c.Coordinator.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.Coordinator.Env = c.Coordinator.Env.With("PG_PASSWORD", envPW).With("RAPIDBYTE_ENV_ALLOW", "PG_*")
	c.Coordinator.Start(t)
	if err := c.Coordinator.WaitHealthy(e2etest.HealthTimeout); err != nil {
		t.Fatal(err)
	}

	pipe := func(name string, srcCfg, dstCfg map[string]any) string {
		p := e2etest.Pipeline{Name: name, Source: srcCfg, Destination: dstCfg,
			Streams: []e2etest.Stream{{Name: "items", DestinationTable: name}}, Resources: map[string]any{"max_retries": 1}}
		return p.Write(t)
	}
	withPW := func(db *e2etest.DB, pw string) map[string]any {
		m := e2etest.PGConfig(db, "public")
		m["password"] = pw
		return m
	}
	okFile := pipe("rb_e2b_secret_ok", withPW(src, "${PG_PASSWORD}"), withPW(dst, litPW))
	unreachable := withPW(src, failLitPW)
	unreachable["port"] = portOf(t, closedAddr(t))
	unreachable["connect_timeout"] = 2
	failHostFile := pipe("rb_e2b_secret_unreachable", unreachable, withPW(dst, "${PG_PASSWORD}"))
	badRole := withPW(src, "${PG_PASSWORD}")
	badRole["user"] = "rb_e2b_no_such_role"
	failRoleFile := pipe("rb_e2b_secret_role", badRole, withPW(dst, failLitPW))

	var outputs []string // every CLI output
	record := func(res e2etest.Result) e2etest.Result {
		outputs = append(outputs, res.Stdout, res.Stderr)
		return res
	}
	okVar := "PG_PASSWORD=" + varPW
	failVar := "PG_PASSWORD=" + failVarPW

	ok := record(cli(t, c, "run", "--var", okVar, okFile))
	ok.RequireExit(t, 0)
	okRun := ok.MustRunJSON(t)
	record(cli(t, c, "run", "-o", "json", "--var", okVar, okFile)).RequireExit(t, 0)
	record(cli(t, c, "run", okFile)).RequireExit(t, 0) // password from the coordinator's environment
	if n := dst.Count(t, e2etest.Ident("public", "rb_e2b_secret_ok")); n != 150 {
		t.Errorf("destination has %d rows after three runs of 50, want 150", n)
	}
	var runIDs []string
	runIDs = append(runIDs, okRun.RunID)
	for _, f := range []string{failHostFile, failRoleFile} {
		for _, format := range []string{"text", "json"} {
			res := record(cli(t, c, "run", "-o", format, "--var", failVar, f))
			if res.ExitCode != 1 {
				t.Fatalf("failing pipeline exit %d, want 1\n%s", res.ExitCode, res)
			}
			if format == "json" { // the run id comes from the JSON result
				runIDs = append(runIDs, res.MustRunJSON(t).RunID)
			}
		}
	}
	record(cli(t, c, "check", "--var", okVar, okFile))
	record(cli(t, c, "check", "--var", failVar, failRoleFile))
	record(cli(t, c, "discover", "--var", okVar, okFile))
	record(cli(t, c, "discover", "--var", failVar, failHostFile))
	for _, id := range runIDs {
		record(cli(t, c, "status", id))
		record(cli(t, c, "status", "-o", "json", id))
		g := c.GRPCurl(t, "rapidbyte.v1.CoordinatorService/GetRun", `{"run_id":"`+id+`"}`)
		g.RequireExit(t, 0)
		record(g)
	}
	record(cli(t, c, "runs")).RequireExit(t, 0)
	record(cli(t, c, "runs", "-o", "json")).RequireExit(t, 0)
	l := c.GRPCurl(t, "rapidbyte.v1.CoordinatorService/ListRuns", `{}`)
	l.RequireExit(t, 0)
	record(l)

	// Stop the servers so their logs and the state files are complete.
	c.Stop(t)
	places := map[string]string{"CLI and grpcurl output": strings.Join(outputs, "\n"), "coordinator log": c.Coordinator.Log()}
	for _, w := range c.Workers {
		places[w.Name+" log"] = w.Log()
	}
	statePath := strings.TrimPrefix(c.StateURL, "sqlite://")
	files, _ := filepath.Glob(statePath + "*")
	if len(files) == 0 {
		t.Fatalf("no state files at %s", statePath)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		places["state file "+filepath.Base(f)] = string(b)
	}
	if b, err := os.ReadFile(okFile); err != nil || !strings.Contains(string(b), litPW) {
		t.Fatalf("control: the pipeline file does not hold the literal password (%v)", err)
	}
	if !strings.Contains(places["CLI and grpcurl output"], okRun.RunID) || !strings.Contains(places["coordinator log"], okRun.RunID) {
		t.Fatal("the outputs searched do not even mention the run: the search is broken")
	}
	for where, text := range places {
		for _, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("password %s leaked into %s: ...%s...", s, where, text[max(0, i-120):min(len(text), i+len(s)+40)])
			}
		}
	}
}

// portOf returns the port of a host:port address as a number.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
