package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/progress"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// pollInterval is how often a run is polled when WatchRun is unavailable.
const pollInterval = 500 * time.Millisecond

func (a *app) runCommand() *cobra.Command {
	var (
		key    string
		detach bool
		queue  bool
		follow bool
		vars   varsFlag
	)
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml",
		Short: "Run a pipeline and print its summary",
		Long: "Run submits the pipeline to the coordinator and waits for it to finish. The summary ends with\n" +
			"one @@BENCH_JSON@@{...} line; -o json prints only that JSON. The exit code is 0 only on success.\n\n" +
			"With --follow the pipeline's change stream (sync_mode: cdc) keeps reading until the run is\n" +
			"stopped: Ctrl-C (or 'rapidbyte cancel RUN_ID') ends it at its next checkpoint, the destination\n" +
			"commits it, and the run ends SUCCEEDED. A second Ctrl-C quits at once.",
		Args: pipelineArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd, args[0], runOptions{key: key, detach: detach, queue: queue, follow: follow}, &vars)
		},
	}
	cmd.Flags().StringVar(&key, "idempotency-key", "", "return the earlier run submitted with this key instead of starting another")
	cmd.Flags().BoolVar(&detach, "detach", false, "submit the run and return its id without waiting (needs --coordinator)")
	cmd.Flags().BoolVar(&queue, "wait", false, "when the pipeline already has an active run, wait until it ends (or its coordinator's lease expires), then run")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep the change stream (sync_mode: cdc) reading until the run is stopped (Ctrl-C or 'rapidbyte cancel')")
	vars.register(cmd)
	return cmd
}

// activePoll is how often `run --wait` submits again while the pipeline has an active run.
const activePoll = time.Second

// runOptions are the flags of `run`.
type runOptions struct {
	key                   string
	detach, queue, follow bool
}

// stopWait bounds how long an interrupted `run --follow` waits for the run
// to stop at its checkpoint (the coordinator cancels it after 30 s).
const stopWait = 45 * time.Second

func (a *app) run(cmd *cobra.Command, file string, o runOptions, vars *varsFlag) error {
	key, detach, queue := o.key, o.detach, o.queue
	ctx := cmd.Context()
	if detach && a.cfg.coordinator == "" {
		return &usageError{cmd: cmd.CommandPath(), err: errors.New("--detach needs a coordinator (--coordinator or " + EnvCoordinator + "): an embedded one stops when rapidbyte exits")}
	}
	text, variables, err := a.loadPipeline(cmd, file, vars)
	if err != nil {
		return err
	}
	sess, err := a.open(ctx, pipelineConnectors(text, true)...)
	if err != nil {
		return err
	}
	defer sess.Close()

	live := a.env.StderrTerminal && !a.json()
	req := &rapidbytev1.SubmitRunRequest{
		PipelineYaml:   text,
		IdempotencyKey: key,
		Wait:           !detach && !live && !o.follow,
		Variables:      variables,
		Follow:         o.follow,
	}
	resp, err := sess.api.SubmitRun(ctx, req)
	for told := false; queue && activeRun(err) && ctx.Err() == nil; {
		if !told {
			fmt.Fprintf(a.env.Stderr, "waiting: %s\n", coord.FromStatus(err).Error())
			told = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(activePoll):
			resp, err = sess.api.SubmitRun(ctx, req)
		}
	}
	if err != nil {
		if ctx.Err() != nil && !sess.embedded {
			return &exitError{code: ExitInterrupt, msg: "interrupted while waiting; the run may still be going on: see 'rapidbyte runs --state running'"}
		}
		return a.pipelineError(ctx, sess.api, file, coord.FromStatus(err))
	}
	if detach {
		return a.printSubmitted(resp)
	}
	run := resp.GetRun()
	if live || run == nil || !report.Final(run.GetState()) {
		run, err = a.follow(ctx, sess.api, resp.GetRunId(), live, nil)
		if err != nil && o.follow && ctx.Err() != nil {
			run, err = a.stopFollow(ctx, sess.api, resp.GetRunId())
		}
		if err != nil {
			if ctx.Err() != nil && !sess.embedded {
				a.cancelOnInterrupt(ctx, sess.api, resp.GetRunId())
			}
			return err
		}
	}
	rep := report.FromProto(run)
	rep.AlreadyExists = resp.GetAlreadyExists()
	if rep.Error != nil && rep.Error.Code == "INVALID_PIPELINE" {
		// Planning found problems in the pipeline: name the file, not "pipeline.yaml".
		rep.Error.Message = strings.Join(fileLines(file, rep.Error.Message), "\n")
	}
	// A failed run prints its summary too (attempts, retries, each attempt's
	// error) before the command's error.
	if err := a.printRun(rep); err != nil {
		return err
	}
	return a.outcome(ctx, sess.api, rep)
}

// activeRun reports whether a SubmitRun error says the pipeline has an active run.
func activeRun(err error) bool {
	var ce *coord.Error
	return err != nil && errors.As(coord.FromStatus(err), &ce) && ce.Failure != nil && ce.Failure.Code == "RUN_ACTIVE"
}

// cancelOnInterrupt asks the coordinator to cancel a run the user interrupted.
func (a *app) cancelOnInterrupt(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, runID string) {
	if runID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := api.CancelRun(ctx, &rapidbytev1.CancelRunRequest{RunId: runID}); err == nil {
		fmt.Fprintf(a.env.Stderr, "cancellation of run %s requested\n", runID)
	}
}

// stopFollow stops an interrupted follow run at its next checkpoint and
// waits (up to stopWait) for its final state; a second interrupt ends the
// process.
func (a *app) stopFollow(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, runID string) (*rapidbytev1.RunResult, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
	defer cancel()
	if _, err := api.CancelRun(wctx, &rapidbytev1.CancelRunRequest{RunId: runID}); err != nil {
		return nil, coord.FromStatus(err)
	}
	fmt.Fprintf(a.env.Stderr, "stopping run %s at its next checkpoint (Ctrl-C again to quit at once)\n", runID)
	return a.poll(wctx, api, runID)
}

// printSubmitted reports a detached submission.
func (a *app) printSubmitted(resp *rapidbytev1.SubmitRunResponse) error {
	state := report.StateName(resp.GetRun().GetState())
	if a.json() {
		return report.WriteJSON(a.env.Stdout, struct {
			RunID         string `json:"run_id"`
			AlreadyExists bool   `json:"already_exists"`
			State         string `json:"state"`
		}{resp.GetRunId(), resp.GetAlreadyExists(), state})
	}
	if resp.GetAlreadyExists() {
		_, err := fmt.Fprintf(a.env.Stdout, "Run %s already exists for this idempotency key (state %s).\n", resp.GetRunId(), state)
		return err
	}
	_, err := fmt.Fprintf(a.env.Stdout, "Submitted run %s (state %s).\nFollow it with: rapidbyte watch %s\n", resp.GetRunId(), state, resp.GetRunId())
	return err
}

// printRun writes a run's summary (text) or its JSON.
func (a *app) printRun(rep report.Run) error {
	return printAs(a, rep, report.WriteText)
}

// outcome maps a run's final state to the command's result. A run that failed on
// an unknown connector also lists the connectors the coordinator has.
func (a *app) outcome(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, rep report.Run) error {
	switch rep.State {
	case "FAILED":
		msg := "run " + rep.RunID + " failed"
		if rep.Error != nil {
			msg += ": " + report.FailureLine(rep.Error)
			if failureNamesUnknownConnector(rep.Error) {
				if known := knownConnectors(ctx, api); known != "" {
					msg += "; available connectors: " + known
				}
			}
		}
		return &exitError{code: ExitFailure, msg: msg}
	case "CANCELLED":
		return &exitError{code: ExitCancelled, msg: "run " + rep.RunID + " was cancelled"}
	}
	return nil
}

// follow waits for a run to reach a final state and returns it, drawing live progress
// when live is set and passing each event to onEvent (if not nil). It watches the run,
// and falls back to polling GetRun when watching is not possible.
func (a *app) follow(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, runID string, live bool,
	onEvent func(*rapidbytev1.WatchRunResponse) error) (*rapidbytev1.RunResult, error) {
	var bar *progress.Renderer
	if live {
		bar = progress.New(a.env.Stderr, nil)
		defer bar.Finish()
	}
	var last *rapidbytev1.RunResult
	stream, err := api.WatchRun(ctx, &rapidbytev1.WatchRunRequest{RunId: runID})
	for err == nil {
		var ev *rapidbytev1.WatchRunResponse
		ev, err = stream.Recv()
		if err != nil {
			break
		}
		if bar != nil {
			bar.Update(snapshot(ev))
		}
		if onEvent != nil {
			if herr := onEvent(ev); herr != nil {
				return nil, herr
			}
		}
		if ev.GetRun() != nil {
			last = ev.GetRun()
		}
		if report.Final(ev.GetState()) {
			break
		}
	}
	if err = coord.FromStatus(err); err != nil && !errors.Is(err, io.EOF) {
		var ce *coord.Error
		if ctx.Err() != nil || (errors.As(err, &ce) && ce.Code == codes.NotFound) {
			return nil, err
		}
	}
	run, err := a.poll(ctx, api, runID)
	if err != nil && last != nil && report.Final(last.GetState()) {
		return last, nil
	}
	return run, err
}

// poll calls GetRun until the run is final.
func (a *app) poll(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, runID string) (*rapidbytev1.RunResult, error) {
	for {
		resp, err := api.GetRun(ctx, &rapidbytev1.GetRunRequest{RunId: runID})
		if err != nil {
			return nil, coord.FromStatus(err)
		}
		if report.Final(resp.GetRun().GetState()) {
			return resp.GetRun(), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// snapshot converts a watch event for the progress renderer.
func snapshot(ev *rapidbytev1.WatchRunResponse) progress.Snapshot {
	s := progress.Snapshot{
		State:   report.StateName(ev.GetState()),
		Attempt: ev.GetAttempt(),
		Message: ev.GetMessage(),
	}
	if ev.GetError() != nil && s.Message == "" {
		s.Message = report.FailureLine(coord.FailureFromProto(ev.GetError()))
	}
	for _, st := range ev.GetStreams() {
		ps := progress.Stream{
			Name:           st.GetStream(),
			Partition:      st.GetPartition(),
			RecordsRead:    st.GetRecordsRead(),
			BytesRead:      st.GetBytesRead(),
			RecordsWritten: st.GetRecordsWritten(),
			State:          report.StateName(st.GetState()),
		}
		if l := report.LagFromProto(st.GetLag()); l != nil {
			ps.Lag = l.String()
		}
		s.Streams = append(s.Streams, ps)
	}
	return s
}
