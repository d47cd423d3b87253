// Command rapidbyte is the Rapidbyte command line: it runs, checks and discovers
// pipelines through a coordinator, or through an embedded one started in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"golang.org/x/term"

	"github.com/rapidbyte/rapidbyte/cli/internal/app"
	"github.com/rapidbyte/rapidbyte/cli/internal/hugepages"
)

func main() { os.Exit(run()) }

// softMemoryLimit is the Go memory limit of the CLI process unless
// GOMEMLIMIT sets one: with it the garbage collector works harder as the
// heap nears it instead of letting the heap double, so an embedded run
// (coordinator, worker and guests in this process) stays under 512 MiB:
// the 12-table copy at parallelism 4 peaked at 607-637 MiB without it and
// 491-498 MiB with it, for about 16% more CPU (docs/rationale.md). It is a
// soft limit: a run that needs more memory gets it, at the cost of more
// collections.
const softMemoryLimit = 416 << 20

func run() int {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	// RAPIDBYTE_CPUPROFILE (undocumented, for performance work) writes a CPU
	// profile of the whole process, embedded coordinator and worker included.
	if path := os.Getenv("RAPIDBYTE_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
	}
	home, _ := os.UserHomeDir()
	exe, _ := os.Executable()
	code := app.Main(ctx, os.Args[1:], app.Env{
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		StderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:         os.Getenv,
		HomeDir:        home,
		Executable:     exe,
		// The heap up to the limit, advised for huge pages: an embedded
		// run touches a few hundred MiB of fresh memory, a page fault per
		// 4 KiB page otherwise (docs/rationale.md). Only then: the advice
		// costs 10-40 ms, which a command talking to a coordinator would
		// pay for nothing.
		PrepareEmbedded: func() { hugepages.AdviseHeap(softMemoryLimit) },
	})
	stop()
	return code
}
