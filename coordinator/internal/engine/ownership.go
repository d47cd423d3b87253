package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/runerr"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// Run ownership (DESIGN §6): a run executes only while its coordinator
// holds the pipeline's lease in the store, renewed every LeaseTTL/3 by the
// execution's heartbeat. A coordinator whose lease is gone stops the run
// without recording anything more; with Failover another coordinator (or
// the restarted process) takes the expired lease and resumes the run from
// the checkpoints its stream results hold.

// lease returns the lease run needs from now on.
func (e *Engine) lease(run store.Run, now time.Time) store.Lease {
	return store.Lease{Pipeline: run.Pipeline, RunID: run.ID, Owner: e.cfg.Owner, ExpiresAt: now.Add(e.cfg.LeaseTTL)}
}

// resumeData is what a run's submission supplied beyond the stored YAML.
// It is stored only sealed (Config.Sealer).
type resumeData struct {
	// YAML is the submitted pipeline when redaction changed it (literal
	// secrets); empty when the stored YAML is the submitted one.
	YAML string `json:"yaml,omitempty"`
	// Variables are the submission's ${VAR} values.
	Variables map[string]string `json:"variables,omitempty"`
}

// attachResumeData seals what another coordinator process needs to resume
// the run into run.ResumeData or, without a sealer, says in
// run.ResumeBlocker why it cannot. Variables from the coordinator's own
// environment are not stored: a resuming coordinator resolves them again.
func (e *Engine) attachResumeData(run *store.Run, sub Submission, redacted bool) error {
	if len(sub.Variables) == 0 && !redacted {
		return nil
	}
	if e.cfg.Sealer == nil {
		var what []string
		if len(sub.Variables) > 0 {
			names := slices.Sorted(maps.Keys(sub.Variables))
			what = append(what, "--var values ("+strings.Join(names, ", ")+")")
		}
		if redacted {
			what = append(what, "literal secrets in its YAML")
		}
		run.ResumeBlocker = "it was submitted with " + strings.Join(what, " and ") +
			", which are stored only encrypted, and the coordinator has no state key (--state-key or RAPIDBYTE_STATE_KEY)"
		return nil
	}
	rd := resumeData{Variables: sub.Variables}
	if redacted {
		rd.YAML = sub.YAML
	}
	plain, err := json.Marshal(rd)
	if err != nil {
		return fmt.Errorf("encode resume data: %w", err)
	}
	if run.ResumeData, err = e.cfg.Sealer.Seal(plain, run.ID); err != nil {
		return fmt.Errorf("seal resume data: %w", err)
	}
	return nil
}

// resumePipeline parses a stored run's pipeline again, with its sealed
// submit-time values ahead of this coordinator's environment. The error
// says why the run cannot be resumed.
func (e *Engine) resumePipeline(run store.Run) (*pipeline.Pipeline, pipeline.Lookup, error) {
	if run.ResumeBlocker != "" {
		return nil, nil, errors.New(run.ResumeBlocker)
	}
	text := run.PipelineYAML
	var rd resumeData
	if run.ResumeData != nil {
		if e.cfg.Sealer == nil {
			return nil, nil, errors.New("its submit-time values are stored encrypted and this coordinator has no state key (--state-key or RAPIDBYTE_STATE_KEY)")
		}
		plain, err := e.cfg.Sealer.Open(run.ResumeData, run.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("its submit-time values: %w: is the state key the one the submitting coordinator used?", err)
		}
		if err := json.Unmarshal(plain, &rd); err != nil {
			return nil, nil, fmt.Errorf("decode its submit-time values: %w", err)
		}
		if rd.YAML != "" {
			text = rd.YAML
		}
	}
	lookup := pipeline.MapLookup(rd.Variables, e.cfg.Env)
	p, err := pipeline.Parse([]byte(text), lookup)
	if err != nil {
		return nil, nil, fmt.Errorf("its pipeline no longer resolves on coordinator %s: %w", e.cfg.Owner, err)
	}
	return p, lookup, nil
}

// supersede fails the other unfinished runs of run's pipeline: run holds
// the pipeline's lease, so their coordinators stopped (their leases
// expired) and run replaces them.
func (e *Engine) supersede(ctx context.Context, run store.Run) {
	runs, err := e.store.ListUnfinished(ctx)
	if err != nil {
		e.log.Error("list unfinished runs", "error", err)
		return
	}
	for _, old := range runs {
		if old.Pipeline != run.Pipeline || old.ID == run.ID {
			continue
		}
		e.failUnfinished(ctx, old, supersededError(run.ID))
		e.log.Warn("superseded a run whose coordinator stopped", "run_id", old.ID, "by", run.ID, "pipeline", run.Pipeline)
	}
}

// failUnfinished records a run this engine holds the lease for (or
// replaces) but will not execute as FAILED with ce, finishing its open
// attempt.
func (e *Engine) failUnfinished(ctx context.Context, r store.Run, ce *runerr.ConnectorError) {
	now := time.Now()
	if r.Attempts > 0 {
		_ = e.store.FinishAttempt(ctx, r.ID, r.Attempts, now, ce) // already finished is fine
	}
	r.State, r.Error, r.FinishedAt = store.StateFailed, ce, now
	if !r.StartedAt.IsZero() {
		r.DurationSecs = now.Sub(r.StartedAt).Seconds()
	}
	if err := e.store.UpdateRun(ctx, r); err != nil {
		e.log.Error("record run end", "run_id", r.ID, "error", err)
	}
}

// takeOver resumes the unfinished runs whose lease expired (their
// coordinator stopped), or that this owner id held before a restart,
// oldest first. A run of a pipeline whose lease another live run holds
// waits. A run with no lease at all is left alone for one LeaseTTL after
// its last update (its submitter may be between creating it and taking the
// lease).
func (e *Engine) takeOver(ctx context.Context) {
	runs, err := e.store.ListUnfinished(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("list unfinished runs", "error", err)
		}
		return
	}
	if len(runs) == 0 {
		return
	}
	all, err := e.store.ListLeases(ctx)
	if err != nil {
		e.log.Error("list leases", "error", err)
		return
	}
	leases := make(map[string]store.Lease, len(all))
	for _, l := range all {
		leases[l.Pipeline] = l
	}
	now := time.Now()
	for _, r := range runs {
		e.mu.Lock()
		_, local := e.active[r.ID]
		_, submitting := e.submitting[r.ID]
		e.mu.Unlock()
		if local || submitting || ctx.Err() != nil {
			continue
		}
		l, has := leases[r.Pipeline]
		switch {
		case has && !l.Expired(now) && !(l.RunID == r.ID && l.Owner == e.cfg.Owner):
			continue // a live coordinator drives this pipeline
		case !has && now.Sub(r.UpdatedAt) < e.cfg.LeaseTTL:
			continue
		}
		got, ok, err := e.store.AcquireLease(ctx, e.lease(r, now), now)
		if err != nil {
			e.log.Error("take over run", "run_id", r.ID, "error", err)
			continue
		}
		if !ok {
			continue // another coordinator was faster
		}
		// The run may have ended since it was listed (its lease released):
		// read it again under the lease.
		fresh, err := e.store.GetRun(ctx, r.ID)
		if err != nil || fresh.State.Final() {
			if err != nil {
				e.log.Error("take over run", "run_id", r.ID, "error", err)
			}
			if rerr := e.store.ReleaseLease(ctx, r.Pipeline, r.ID, e.cfg.Owner); rerr != nil {
				e.log.Error("release lease", "run_id", r.ID, "error", rerr)
			}
			continue
		}
		r = fresh
		leases[r.Pipeline] = got
		from := l.Owner
		if from == "" {
			from = r.Owner
		}
		e.adopt(ctx, r, from)
	}
}

// adopt resumes run r, whose lease this engine now holds, or fails it with
// the reason it cannot be resumed.
func (e *Engine) adopt(ctx context.Context, r store.Run, from string) {
	log := e.log.With("run_id", r.ID, "pipeline", r.Pipeline, "from", from)
	if r.CancelRequested {
		now := time.Now()
		if r.Attempts > 0 {
			_ = e.store.FinishAttempt(ctx, r.ID, r.Attempts, now, cancelledError()) // already finished is fine
		}
		r.State, r.Error, r.FinishedAt = store.StateCancelled, cancelledError(), now
		if err := e.store.UpdateRun(ctx, r); err != nil {
			log.Error("record run end", "error", err)
		}
		if err := e.store.ReleaseLease(ctx, r.Pipeline, r.ID, e.cfg.Owner); err != nil {
			log.Error("release lease", "error", err)
		}
		return
	}
	p, lookup, err := e.resumePipeline(r)
	if err == nil {
		r.Owner = e.cfg.Owner
		if err = e.start(r, p, lookup, 0, from); err == nil {
			log.Info("took over a run whose coordinator stopped", "attempts", r.Attempts)
			return
		}
	}
	if errors.Is(err, ErrNotRunning) {
		return // shutting down: the lease expires for someone else
	}
	log.Error("cannot resume run", "reason", err)
	e.failUnfinished(ctx, r, notResumableError(err.Error()))
	if rerr := e.store.ReleaseLease(ctx, r.Pipeline, r.ID, e.cfg.Owner); rerr != nil {
		log.Error("release lease", "error", rerr)
	}
}
