package pgsdk

import (
	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// resumeOf returns the checkpoint the source resumes after for this write.
// sdk.WriteRequest does not carry it yet (requested from the SDK owners:
// WriteRequest.Resume = abi.Request.Resume); until then a retried attempt
// is treated as a fresh start of the run's stream, which is exact when the
// coordinator restarts the read from the beginning.
func resumeOf(sdk.WriteRequest) *abi.Checkpoint { return nil }
