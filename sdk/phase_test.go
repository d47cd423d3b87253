package sdk

import (
	"context"
	"testing"
	"time"
)

func TestRecordPhase(t *testing.T) {
	var ph phases
	ctx := context.WithValue(context.Background(), phasesKey{}, &ph)
	RecordPhase(ctx, PhaseConnect, 2*time.Second)
	RecordPhase(ctx, PhaseFetch, time.Second)
	RecordPhase(ctx, PhaseFetch, 500*time.Millisecond)
	RecordPhase(context.Background(), PhaseQuery, time.Hour) // not an SDK ctx: ignored
	got := ph.result().PhaseSecs
	if len(got) != 2 || got["connect"] != 2 || got["fetch"] != 1.5 {
		t.Errorf("phases = %v, want connect 2 and fetch 1.5", got)
	}
}
