package engine

import (
	"errors"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
)

var (
	// ErrNotRunning means the engine is not started (Run was not called) or
	// is shutting down.
	ErrNotRunning = errors.New("engine is not running")
	// errShutdown is the cancel cause of runs interrupted by shutdown.
	errShutdown = errors.New("coordinator shutting down")
	// errUserCancel is the cancel cause of runs cancelled through Cancel.
	errUserCancel = errors.New("run cancelled")
)

// cancelledError is the run error of a cancelled run.
func cancelledError() *runerr.ConnectorError {
	return &runerr.ConnectorError{Category: runerr.CategoryCancelled, Code: "CANCELLED", Message: "run cancelled by user"}
}

// shutdownError is the run error of a run interrupted by coordinator shutdown.
func shutdownError() *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "COORDINATOR_SHUTDOWN",
		Message: "the coordinator shut down while the run was in progress",
		Hint:    "submit the run again; incremental streams resume from their last acknowledged cursor",
	}
}

// restartedError is the run error of a run a previous coordinator process
// left unfinished.
func restartedError(state string) *runerr.ConnectorError {
	return &runerr.ConnectorError{
		Category: runerr.CategoryInternal, Code: "COORDINATOR_RESTARTED",
		Message: "the coordinator stopped while the run was " + state + "; it was not resumed",
		Hint:    "submit the run again; incremental streams resume from their last acknowledged cursor",
	}
}
