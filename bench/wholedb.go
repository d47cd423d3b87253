package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// dbTable is one table of the whole-database workload.
type dbTable struct {
	Name string
	Rows int
	// JSON gives the table bench_events_j's shape (jsonb, ~10% NULLs)
	// instead of bench_events'.
	JSON bool
}

// dbTables is the whole-database workload: 12 tables of 20k to 400k rows,
// 1.55M rows in all, every third one of the jsonb/NULLs shape.
var dbTables = func() []dbTable {
	rows := []int{400_000, 300_000, 200_000, 150_000, 120_000, 100_000, 80_000, 60_000, 50_000, 40_000, 30_000, 20_000}
	out := make([]dbTable, len(rows))
	for i, n := range rows {
		out[i] = dbTable{Name: fmt.Sprintf("t%02d", i+1), Rows: n, JSON: (i+1)%3 == 0}
	}
	return out
}()

// dbWorkload is the name of the whole-database workload in the report.
const dbWorkload = "whole_db_12"

// runWholeDB copies the 12 tables of cfg.DBSrc into the same pre-created
// tables of cfg.DBDst with every mode of cfg.dbModes(), alternating the
// modes within each repetition (so load changes hit all of them alike), and
// appends one modeResult per mode; ratios are to pgcopydb.
func runWholeDB(cfg config, rep *report, work string) error {
	if err := ensureDBData(cfg); err != nil {
		return err
	}
	var total int64
	var mib float64
	want := map[string]string{}
	for _, t := range dbTables {
		n, err := psqlInt(cfg.DBSrc, "SELECT count(*) FROM public."+t.Name)
		if err != nil {
			return err
		}
		m, err := psqlFloat(cfg.DBSrc, fmt.Sprintf("SELECT pg_relation_size('public.%s')/1048576.0", t.Name))
		if err != nil {
			return err
		}
		total, mib = total+n, mib+m
		if want[t.Name], err = checksum(cfg.DBSrc, "public."+t.Name); err != nil {
			return err
		}
	}
	rep.Rows[dbWorkload], rep.SourceMiB[dbWorkload] = total, mib
	modes := cfg.dbModes()
	results := make([]modeResult, len(modes))
	for i, mode := range modes {
		results[i] = modeResult{Table: dbWorkload, Mode: mode}
	}
	for r := 1; r <= cfg.Reps; r++ {
		for i, mode := range modes {
			if err := resetDBDest(cfg.DBDst); err != nil {
				return err
			}
			res, err := runDBMode(cfg, mode, work)
			if err != nil {
				return fmt.Errorf("%s %s rep %d: %w", dbWorkload, mode, r, err)
			}
			res.Verified = true
			for _, t := range dbTables {
				got, err := checksum(cfg.DBDst, "public."+t.Name)
				if err != nil {
					return err
				}
				if got != want[t.Name] {
					res.Verified = false
					res.Note = fmt.Sprintf("%s: checksum mismatch: source %s, destination %s", t.Name, want[t.Name], got)
					fmt.Fprintf(os.Stderr, "%s %s rep %d: %s\n", dbWorkload, mode, r, res.Note)
					break
				}
			}
			logRun(dbWorkload, mode, r, res)
			results[i].Runs = append(results[i].Runs, res)
		}
	}
	rep.addResults(results, total, mib, "pgcopydb")
	return nil
}

func runDBMode(cfg config, mode, work string) (runResult, error) {
	switch mode {
	case "pgcopydb":
		uri := func(db string) string {
			return fmt.Sprintf("postgres://%s@%s:%s/%s", os.Getenv("PGUSER"), os.Getenv("PGHOST"), os.Getenv("PGPORT"), db)
		}
		dir := filepath.Join(work, "pgcopydb")
		if err := os.RemoveAll(dir); err != nil {
			return runResult{}, err
		}
		u := timed(exec.Command("pgcopydb", "copy", "table-data", "--source", uri(cfg.DBSrc), "--target", uri(cfg.DBDst),
			"--dir", dir, "--table-jobs", "2", "--notice"))
		if u.ExitErr != nil {
			return runResult{}, fmt.Errorf("pgcopydb: %v: %s", u.ExitErr, tail(u.Stderr, 2000))
		}
		return runResult{WallSecs: u.Wall.Seconds(), CPUSecs: u.CPU.Seconds(), PeakRSSMiB: map[string]int64{"pgcopydb": u.MaxRSS >> 20}}, nil
	case "embedded", "distributed":
		pipeline, err := writeDBPipeline(cfg, work)
		if err != nil {
			return runResult{}, err
		}
		if mode == "embedded" {
			return runEmbedded(cfg, pipeline, work)
		}
		return runDistributed(cfg, pipeline, work)
	}
	return runResult{}, fmt.Errorf("unknown whole-database mode %q (have pgcopydb, embedded, distributed)", mode)
}

// writeDBPipeline writes the whole-database pipeline: one pattern stream
// over the source's public schema into the destination's public schema.
func writeDBPipeline(cfg config, work string) (string, error) {
	host, port := os.Getenv("PGHOST"), os.Getenv("PGPORT")
	y := fmt.Sprintf(`version: "1.0"
pipeline: bench_%[1]s
source:
  use: source-postgres
  config: {host: %[2]s, port: %[3]s, user: postgres, database: %[4]s, schema: public, full_refresh_order: %[7]s}
  streams:
    - {name: "public.*", sync_mode: full_refresh}
destination:
  use: dest-postgres
  config: {host: %[2]s, port: %[3]s, user: postgres, database: %[5]s, schema: public}
  write_mode: append
resources:
  max_retries: 0
  parallelism: %[6]d
`, dbWorkload, host, port, cfg.DBSrc, cfg.DBDst, cfg.DBParallelism, cfg.Order)
	path := filepath.Join(work, dbWorkload+".yaml")
	return path, os.WriteFile(path, []byte(y), 0o644)
}

// ensureDBData creates the source database's 12 tables when any is missing
// or has another row count (bench/make-db-data.sh).
func ensureDBData(cfg config) error {
	ok := true
	for _, t := range dbTables {
		if n, err := psqlInt(cfg.DBSrc, "SELECT count(*) FROM public."+t.Name); err != nil || n != int64(t.Rows) {
			ok = false
			break
		}
	}
	if ok {
		return nil
	}
	args := []string{cfg.DBSrc, cfg.DBDst}
	for _, t := range dbTables {
		shape := "e"
		if t.JSON {
			shape = "j"
		}
		args = append(args, fmt.Sprintf("%s:%d:%s", t.Name, t.Rows, shape))
	}
	fmt.Fprintf(os.Stderr, "generating the %d-table workload in %s ...\n", len(dbTables), cfg.DBSrc)
	c := exec.Command(filepath.Join(cfg.Root, "bench", "make-db-data.sh"), args...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	return c.Run()
}

// resetDBDest recreates the destination's 12 tables, empty (untimed).
func resetDBDest(db string) error {
	var b strings.Builder
	for _, t := range dbTables {
		ddl := destDDL["bench_events"]
		if t.JSON {
			ddl = destDDL["bench_events_j"]
		}
		fmt.Fprintf(&b, "DROP TABLE IF EXISTS public.%[1]s; CREATE TABLE public.%[1]s %[2]s;", t.Name, ddl)
	}
	b.WriteString("CHECKPOINT;")
	if _, err := psql(db, b.String()); err != nil {
		return err
	}
	settle()
	return nil
}

// tail returns at most the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
