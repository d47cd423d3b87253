package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// eventsDDL is bench_events' shape.
const eventsDDL = `(id bigint NOT NULL, event_type text NOT NULL, user_id int NOT NULL, amount double precision NOT NULL,
		price numeric(12,2) NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL, is_active boolean NOT NULL)`

// destDDL is the destination table of each bench table: the source's shape,
// logged, without a primary key, as in the COPY pipe anchors.
var destDDL = map[string]string{
	"bench_events": eventsDDL,
	"bench_events_j": `(id bigint NOT NULL, event_type text, user_id int, amount double precision, price numeric(12,2),
		payload text, created_at timestamptz, is_active boolean, attrs jsonb)`,
	fixedTable: eventsDDL,
}

// fixedTable holds the first fixedRows rows of bench_events: copying it
// takes a run's fixed cost (process start, module loads, planning,
// connections, the commit) and next to nothing else.
const (
	fixedTable = "bench_fixed"
	fixedRows  = 1000
)

func run(cfg config) (*report, error) {
	rep := &report{Time: time.Now().UTC(), Rows: map[string]int64{}, SourceMiB: map[string]float64{}, Partitions: cfg.Partitions, AllVerified: true}
	rep.Host, _ = os.Hostname()
	if len(cfg.tables()) > 0 {
		if err := ensureData(cfg); err != nil {
			return nil, err
		}
	}
	work, err := os.MkdirTemp("", "rapidbyte-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	for _, table := range cfg.tables() {
		if _, ok := destDDL[table]; !ok {
			return nil, fmt.Errorf("unknown table %q (have %s, bench_events, bench_events_j)", table, fixedTable)
		}
		rows, err := psqlInt(cfg.SrcDB, "SELECT count(*) FROM public."+table)
		if err != nil {
			return nil, err
		}
		mib, err := psqlFloat(cfg.SrcDB, fmt.Sprintf("SELECT pg_relation_size('public.%s')/1048576.0", table))
		if err != nil {
			return nil, err
		}
		rep.Rows[table], rep.SourceMiB[table] = rows, mib
		want, err := checksum(cfg.SrcDB, "public."+table)
		if err != nil {
			return nil, err
		}
		// Modes alternate within each repetition, so a change of load on
		// the machine hits every mode alike.
		modes := cfg.modes()
		results := make([]modeResult, len(modes))
		for i, mode := range modes {
			results[i] = modeResult{Table: table, Mode: mode}
		}
		for r := 1; r <= cfg.Reps; r++ {
			for i, mode := range modes {
				if err := resetDest(cfg.DstDB, table); err != nil {
					return nil, err
				}
				res, err := runMode(cfg, mode, table, work)
				if err != nil {
					return nil, fmt.Errorf("%s %s rep %d: %w", table, mode, r, err)
				}
				got, err := checksum(cfg.DstDB, "bench."+table)
				if err != nil {
					return nil, err
				}
				res.Verified = got == want
				if !res.Verified {
					res.Note = fmt.Sprintf("checksum mismatch: source %s, destination %s", want, got)
					fmt.Fprintf(os.Stderr, "%s %s rep %d: %s\n", table, mode, r, res.Note)
				}
				logRun(table, mode, r, res)
				results[i].Runs = append(results[i].Runs, res)
			}
		}
		rep.addResults(results, rows, mib, "pipe")
	}
	if cfg.DB {
		if err := runWholeDB(cfg, rep, work); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func runMode(cfg config, mode, table, work string) (runResult, error) {
	switch mode {
	case "pipe":
		q := func(db, sql string) string { return fmt.Sprintf("psql -X -q -d %s -c %q", db, sql) }
		script := "set -o pipefail; " + q(cfg.SrcDB, "COPY (SELECT * FROM public."+table+") TO STDOUT (FORMAT binary)") +
			" | " + q(cfg.DstDB, "COPY bench."+table+" FROM STDIN (FORMAT binary)")
		u := timed(exec.Command("bash", "-c", script))
		if u.ExitErr != nil {
			return runResult{}, fmt.Errorf("pipe: %v: %s", u.ExitErr, u.Stderr)
		}
		return runResult{WallSecs: u.Wall.Seconds(), CPUSecs: u.CPU.Seconds()}, nil
	case "embedded", "distributed":
		pipeline, err := writePipeline(cfg, table, work)
		if err != nil {
			return runResult{}, err
		}
		if mode == "embedded" {
			return runEmbedded(cfg, pipeline, work)
		}
		return runDistributed(cfg, pipeline, work)
	}
	return runResult{}, fmt.Errorf("unknown mode %q", mode)
}

// runEmbedded runs the pipeline with `rapidbyte run` (in-process coordinator
// and worker) and reports its wall time, CPU and peak RSS.
func runEmbedded(cfg config, pipeline, work string) (runResult, error) {
	cmd := exec.Command(filepath.Join(cfg.Root, "bin", "rapidbyte"), "-o", "json", "run", pipeline)
	cmd.Env = append(os.Environ(), "RAPIDBYTE_STATE=sqlite://"+filepath.Join(work, "embedded.db"))
	u := timed(cmd)
	if err := checkRun(u); err != nil {
		return runResult{}, err
	}
	return runResult{WallSecs: u.Wall.Seconds(), CPUSecs: u.CPU.Seconds(), PeakRSSMiB: map[string]int64{"rapidbyte": u.MaxRSS >> 20}}, nil
}

// runDistributed starts a coordinator and two workers, waits until each
// worker has loaded both connectors (--preload; a deployed worker is long
// lived, so its module loads are not part of a run), runs the pipeline
// through them, and reports the wall time of the CLI run plus the CPU and
// peak RSS of all four processes.
func runDistributed(cfg config, pipeline, work string) (runResult, error) {
	bin := func(name string) string { return filepath.Join(cfg.Root, "bin", name) }
	ports, err := freePorts(3)
	if err != nil {
		return runResult{}, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	var procs []*exec.Cmd
	names := []string{"worker-1", "worker-2", "coordinator"}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	logPath := func(i int) string { return filepath.Join(cfg.Root, "build", "bench-"+names[i]+".log") }
	start := func(args ...string) error {
		logf, err := os.Create(logPath(len(procs)))
		if err != nil {
			return err
		}
		defer logf.Close() // the child has its own descriptor
		c := exec.Command(args[0], args[1:]...)
		c.Stdout, c.Stderr = logf, logf
		if err := c.Start(); err != nil {
			return err
		}
		procs = append(procs, c)
		return nil
	}
	conn := filepath.Join(cfg.Root, "dist", "connectors")
	for i := 0; i < 2; i++ {
		if err := start(bin("rapidbyte-worker"), "--listen", addr(i), "--connectors-dir", conn,
			"--preload", "source-postgres,dest-postgres"); err != nil {
			return runResult{}, err
		}
	}
	if err := start(bin("rapidbyte-coordinator"), "--listen", addr(2), "--workers", addr(0)+","+addr(1),
		"--connectors-dir", conn, "--state", "sqlite://"+filepath.Join(work, "coordinator.db")); err != nil {
		return runResult{}, err
	}
	for i := range 3 {
		if err := waitListening(addr(i), 30*time.Second); err != nil {
			return runResult{}, fmt.Errorf("%s: %w", names[i], err)
		}
	}
	for i := range 2 {
		if err := waitPreloaded(logPath(i), 2, 30*time.Second); err != nil {
			return runResult{}, fmt.Errorf("%s: %w", names[i], err)
		}
	}
	cpuBefore := make([]time.Duration, len(procs))
	for i, p := range procs {
		cpuBefore[i], _, _ = procStats(p.Process.Pid)
	}
	u := timed(exec.Command(bin("rapidbyte"), "--coordinator", addr(2), "-o", "json", "run", pipeline))
	if err := checkRun(u); err != nil {
		return runResult{}, err
	}
	r := runResult{WallSecs: u.Wall.Seconds(), CPUSecs: u.CPU.Seconds(), PeakRSSMiB: map[string]int64{"cli": u.MaxRSS >> 20}}
	for i, p := range procs {
		cpu, hwm, err := procStats(p.Process.Pid)
		if err != nil {
			return runResult{}, fmt.Errorf("%s died during the run: %w", names[i], err)
		}
		used := (cpu - cpuBefore[i]).Seconds()
		r.CPUSecs += used
		r.PeakRSSMiB[names[i]] = hwm >> 20
		if strings.HasPrefix(names[i], "worker") {
			if r.WorkerCPUSecs == nil {
				r.WorkerCPUSecs = map[string]float64{}
			}
			r.WorkerCPUSecs[names[i]] = used
		}
	}
	return r, nil
}

// checkRun fails unless the CLI exited 0 with a SUCCEEDED result.
func checkRun(u usage) error {
	var res struct {
		State string `json:"state"`
		Error any    `json:"error"`
	}
	if err := json.Unmarshal(u.Stdout, &res); err != nil || u.ExitErr != nil {
		return fmt.Errorf("rapidbyte run: %v\nstdout: %s\nstderr: %s", u.ExitErr, u.Stdout, u.Stderr)
	}
	if !strings.Contains(res.State, "SUCCEEDED") {
		return fmt.Errorf("rapidbyte run ended %s: %v", res.State, res.Error)
	}
	return nil
}

func writePipeline(cfg config, table, work string) (string, error) {
	partition := ""
	if cfg.Partitions > 0 {
		partition = "\n      partition_key: id"
	}
	host, port := os.Getenv("PGHOST"), os.Getenv("PGPORT")
	y := fmt.Sprintf(`version: "1.0"
pipeline: bench_%[1]s
source:
  use: source-postgres
  config: {host: %[2]s, port: %[3]s, user: postgres, database: %[4]s, schema: public, full_refresh_order: %[8]s}
  streams:
    - name: %[1]s
      sync_mode: full_refresh%[6]s
destination:
  use: dest-postgres
  config: {host: %[2]s, port: %[3]s, user: postgres, database: %[5]s, schema: bench}
  write_mode: append
resources:
  max_retries: 0
  parallelism: %[7]d
`, table, host, port, cfg.SrcDB, cfg.DstDB, partition, max(cfg.Partitions, 1), cfg.Order)
	path := filepath.Join(work, table+".yaml")
	return path, os.WriteFile(path, []byte(y), 0o644)
}

func ensureData(cfg config) error {
	if err := ensureEvents(cfg); err != nil {
		return err
	}
	return ensureFixed(cfg.SrcDB, cfg.Rows)
}

// ensureEvents creates bench_events and bench_events_j unless they hold cfg.Rows rows.
func ensureEvents(cfg config) error {
	n, err := psqlInt(cfg.SrcDB, "SELECT count(*) FROM public.bench_events")
	if err == nil && n == int64(cfg.Rows) {
		if _, err := psqlInt(cfg.SrcDB, "SELECT count(*) FROM public.bench_events_j"); err == nil {
			return nil
		}
	}
	fmt.Fprintf(os.Stderr, "generating %d rows in %s ...\n", cfg.Rows, cfg.SrcDB)
	c := exec.Command(filepath.Join(cfg.Root, "bench", "make-data.sh"), strconv.Itoa(cfg.Rows), cfg.SrcDB, cfg.DstDB)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	return c.Run()
}

// ensureFixed creates the fixed-cost table from bench_events unless it
// holds its first fixedRows rows (as many as there are); bench_events'
// rows are a function of their id, so they are the same whatever -rows
// made it.
func ensureFixed(db string, rows int) error {
	if n, err := psqlInt(db, "SELECT count(*) FROM public."+fixedTable); err == nil && n == int64(min(rows, fixedRows)) {
		return nil
	}
	create := fmt.Sprintf(`DROP TABLE IF EXISTS public.%[1]s; CREATE TABLE public.%[1]s AS SELECT * FROM public.bench_events WHERE id <= %[2]d;
		ALTER TABLE public.%[1]s ADD PRIMARY KEY (id)`, fixedTable, fixedRows)
	if _, err := psql(db, create); err != nil {
		return err
	}
	_, err := psql(db, "VACUUM (FREEZE, ANALYZE) public."+fixedTable)
	return err
}

func resetDest(db, table string) error {
	if _, err := psql(db, fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS bench; DROP TABLE IF EXISTS bench.%[1]s; CREATE TABLE bench.%[1]s %[2]s; CHECKPOINT;", table, destDDL[table])); err != nil {
		return err
	}
	settle()
	return nil
}

// settle writes every dirty page of the machine to disk before a timed
// run. The earlier runs' WAL and table files (and the data generation's)
// stay dirty in the page cache for up to dirty_expire_centisecs (30 s by
// default), and the kernel's writeback of them otherwise lands inside a
// later run: on this kind of VM it raised both PostgreSQL's and our CPU
// time by up to 40% in whichever run it hit.
func settle() { syscall.Sync() }

// checksum is an order-independent digest of a table's rows.
func checksum(db, table string) (string, error) {
	return psql(db, fmt.Sprintf("SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM %s t", table))
}

func psql(db, sql string) (string, error) {
	out, err := exec.Command("psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %s: %v: %s", db, err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	last := ""
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last, nil
}

func psqlInt(db, sql string) (int64, error) {
	s, err := psql(db, sql)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

func psqlFloat(db, sql string) (float64, error) {
	s, err := psql(db, sql)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, 64)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitPreloaded waits until the worker logging to path has loaded n
// modules (its resolver logs "module loaded" once a load finished).
func waitPreloaded(path string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Count(string(b), "worker.modules: module loaded:") >= n {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%d modules not loaded after %s (see %s)", n, timeout, path)
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not listening on " + addr)
}
