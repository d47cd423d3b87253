// Command bench measures Rapidbyte's PG -> PG full refresh against the raw
// binary COPY pipe (psql COPY TO STDOUT | psql COPY FROM STDIN) on the same
// server, in the same run: 3 repetitions of each mode with the median
// reported, rows/s, MB/s, the ratio to the pipe, CPU seconds per million
// rows, the peak RSS of every Rapidbyte process, and a checksum of every
// destination table against its source. Then it copies a whole database
// (12 tables, 1.55M rows) with one pattern-stream pipeline, alternating with
// pgcopydb copy table-data --table-jobs 2 into the same pre-created tables.
// It writes a JSON result file.
//
// It expects PGHOST/PGPORT/PGUSER in the environment (bench/run.sh sets them)
// and the binaries and connectors built by `make build wasm`.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	cfg := config{}
	flag.IntVar(&cfg.Rows, "rows", 1_000_000, "rows in bench_events (data is regenerated when the count differs)")
	flag.IntVar(&cfg.Reps, "reps", 3, "repetitions per mode; the median is reported")
	flag.StringVar(&cfg.Tables, "tables", fixedTable+",bench_events,bench_events_j", "source tables to copy ("+fixedTable+": a run's fixed cost)")
	flag.StringVar(&cfg.Modes, "modes", "pipe,embedded,distributed", "modes to run")
	flag.IntVar(&cfg.Partitions, "partitions", 0, "split each stream into this many partitions by id (0 = one stream)")
	flag.StringVar(&cfg.Order, "order", "key", "source-postgres's full_refresh_order of every pipeline: key (the default, by primary key) or physical (a sequential scan)")
	flag.StringVar(&cfg.Root, "root", ".", "repository root (bin/, dist/, bench/)")
	flag.StringVar(&cfg.Out, "out", "", "JSON result file (default bench/results/<time>.json)")
	flag.StringVar(&cfg.SrcDB, "src-db", "rb_bench_src", "source database")
	flag.StringVar(&cfg.DstDB, "dst-db", "rb_bench_dst", "destination database")
	flag.BoolVar(&cfg.DB, "db", true, "also run the whole-database workload (12 tables, one pattern stream) against pgcopydb")
	flag.StringVar(&cfg.DBModes, "db-modes", "pgcopydb,embedded,distributed", "modes of the whole-database workload")
	flag.IntVar(&cfg.DBParallelism, "db-parallelism", 2, "resources.parallelism of the whole-database pipeline (2, like pgcopydb --table-jobs 2: a read and a write each take a worker slot)")
	flag.StringVar(&cfg.DBSrc, "db-src", "rb_bench_db_src", "source database of the whole-database workload")
	flag.StringVar(&cfg.DBDst, "db-dst", "rb_bench_db_dst", "destination database of the whole-database workload")
	flag.Parse()

	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		fatal(err)
	}
	cfg.Root = root
	if cfg.Out == "" {
		cfg.Out = filepath.Join(root, "bench", "results", time.Now().UTC().Format("20060102T150405Z")+".json")
	}
	signal.Ignore(os.Interrupt) // children get the signal; we clean up after them
	rep, err := run(cfg)
	if err != nil {
		fatal(err)
	}
	printTable(os.Stdout, rep)
	if err := writeJSON(cfg.Out, rep); err != nil {
		fatal(err)
	}
	fmt.Printf("\nresult: %s\n", cfg.Out)
	if !rep.AllVerified {
		fatal(fmt.Errorf("destination verification failed (see above)"))
	}
}

type config struct {
	Rows, Reps, Partitions, DBParallelism                                int
	Tables, Modes, Root, Out, SrcDB, DstDB, DBModes, DBSrc, DBDst, Order string
	DB                                                                   bool
}

func (c config) tables() []string  { return list(c.Tables) }
func (c config) modes() []string   { return list(c.Modes) }
func (c config) dbModes() []string { return list(c.DBModes) }

// list splits a comma-separated flag value; "" is none.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
