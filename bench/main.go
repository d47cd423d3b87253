// Command bench measures Rapidbyte's PG -> PG full refresh against the raw
// binary COPY pipe (psql COPY TO STDOUT | psql COPY FROM STDIN) on the same
// server, in the same run: 3 repetitions of each mode with the median
// reported, rows/s, MB/s, the ratio to the pipe, CPU seconds per million
// rows, the peak RSS of every Rapidbyte process, and a checksum of every
// destination table against its source. It writes a JSON result file.
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
	flag.StringVar(&cfg.Tables, "tables", "bench_events,bench_events_j", "source tables to copy")
	flag.StringVar(&cfg.Modes, "modes", "pipe,embedded,distributed", "modes to run")
	flag.IntVar(&cfg.Partitions, "partitions", 0, "split each stream into this many partitions by id (0 = one stream)")
	flag.StringVar(&cfg.Root, "root", ".", "repository root (bin/, dist/, bench/)")
	flag.StringVar(&cfg.Out, "out", "", "JSON result file (default bench/results/<time>.json)")
	flag.StringVar(&cfg.SrcDB, "src-db", "rb_bench_src", "source database")
	flag.StringVar(&cfg.DstDB, "dst-db", "rb_bench_dst", "destination database")
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
	Rows, Reps, Partitions                 int
	Tables, Modes, Root, Out, SrcDB, DstDB string
}

func (c config) tables() []string { return strings.Split(c.Tables, ",") }
func (c config) modes() []string  { return strings.Split(c.Modes, ",") }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
