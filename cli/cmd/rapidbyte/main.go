// Command rapidbyte is the Rapidbyte command line: it runs, checks and discovers
// pipelines through a coordinator, or through an embedded one started in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/rapidbyte/rapidbyte/cli/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	home, _ := os.UserHomeDir()
	exe, _ := os.Executable()
	code := app.Main(ctx, os.Args[1:], app.Env{
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		StderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:         os.Getenv,
		HomeDir:        home,
		Executable:     exe,
	})
	stop()
	os.Exit(code)
}
