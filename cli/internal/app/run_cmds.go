package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status RUN_ID",
		Short: "Show a run",
		Args:  oneArg("RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withSession(ctx, nil, func(api rapidbytev1.CoordinatorServiceClient) error {
				resp, err := api.GetRun(ctx, &rapidbytev1.GetRunRequest{RunId: args[0]})
				if err != nil {
					return coord.FromStatus(err)
				}
				return a.printRun(report.FromProto(resp.GetRun()))
			})
		},
	}
}

func (a *app) watchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "watch RUN_ID",
		Short: "Follow a run until it finishes; the exit code says how it ended",
		Long: "Watch prints the run's events as they happen, then its summary. It exits 0 when the run\n" +
			"succeeded, 1 when it failed and 3 when it was cancelled.",
		Args: oneArg("RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withSession(ctx, nil, func(api rapidbytev1.CoordinatorServiceClient) error {
				var onEvent func(*rapidbytev1.WatchRunResponse) error
				if !a.json() {
					onEvent = a.eventPrinter()
				}
				run, err := a.follow(ctx, api, args[0], a.env.StderrTerminal && !a.json(), onEvent)
				if err != nil {
					return err
				}
				rep := report.FromProto(run)
				if err := a.printRun(rep); err != nil {
					return err
				}
				return a.outcome(ctx, api, rep)
			})
		},
	}
}

// lagEvery is how often `watch` prints the lag of a follow run's change
// stream when nothing else changes.
const lagEvery = 5 * time.Second

// eventPrinter prints a watch event whenever the run's state, attempt, message or error
// changes, and, for a follow run, its change stream's lag every lagEvery.
func (a *app) eventPrinter() func(*rapidbytev1.WatchRunResponse) error {
	var prev string
	var lagAt time.Time
	return func(ev *rapidbytev1.WatchRunResponse) error {
		var lag string
		for _, st := range ev.GetStreams() {
			if l := report.LagFromProto(st.GetLag()); l != nil {
				lag = fmt.Sprintf(" (%s lag %s)", st.GetStream(), l)
			}
		}
		line := fmt.Sprintf("%s attempt %d", report.StateName(ev.GetState()), max(ev.GetAttempt(), 1))
		if msg := strings.Join(strings.Fields(ev.GetMessage()), " "); msg != "" {
			line += ": " + msg
		}
		if ev.GetError() != nil {
			line += " [" + report.FailureLine(coord.FailureFromProto(ev.GetError())) + "]"
		}
		if line == prev && (lag == "" || time.Since(lagAt) < lagEvery) {
			return nil
		}
		prev = line
		if lag != "" {
			lagAt = time.Now()
		}
		ts := time.Now()
		if ev.GetTime() != nil {
			ts = ev.GetTime().AsTime()
		}
		_, err := fmt.Fprintf(a.env.Stdout, "%s %s%s\n", ts.Local().Format(time.TimeOnly), line, lag)
		return err
	}
}

func (a *app) runsCommand() *cobra.Command {
	var (
		states   []string
		pipeline string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if limit <= 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--limit must be positive, got %d", limit)}
			}
			req := &rapidbytev1.ListRunsRequest{Pipeline: pipeline}
			for _, s := range states {
				for _, one := range strings.Split(s, ",") {
					st, ok := parseState(one)
					if !ok {
						return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("invalid --state %q: use pending, running, succeeded, failed or cancelled", one)}
					}
					req.States = append(req.States, st)
				}
			}
			return a.withSession(ctx, nil, func(api rapidbytev1.CoordinatorServiceClient) error {
				runs := []report.Run{}
				for len(runs) < limit {
					req.PageSize = uint32(min(limit-len(runs), 100))
					resp, err := api.ListRuns(ctx, req)
					if err != nil {
						return coord.FromStatus(err)
					}
					for _, r := range resp.GetRuns() {
						if len(runs) < limit {
							runs = append(runs, report.FromProto(r))
						}
					}
					if resp.GetNextPageToken() == "" || len(resp.GetRuns()) == 0 {
						break
					}
					req.PageToken = resp.GetNextPageToken()
				}
				return printAs(a, runs, report.WriteRunsText)
			})
		},
	}
	cmd.Flags().StringArrayVar(&states, "state", nil, "keep runs in this state (pending, running, succeeded, failed, cancelled; repeatable or comma-separated)")
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "keep runs of this pipeline")
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many runs")
	return cmd
}

// parseState parses a run state name such as "failed" or "RUN_STATE_FAILED".
func parseState(s string) (rapidbytev1.RunState, bool) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "RUN_STATE_") {
		name = "RUN_STATE_" + name
	}
	v, ok := rapidbytev1.RunState_value[name]
	if !ok || v == 0 {
		return 0, false
	}
	return rapidbytev1.RunState(v), true
}

func (a *app) cancelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a pending or running run",
		Args:  oneArg("RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withSession(ctx, nil, func(api rapidbytev1.CoordinatorServiceClient) error {
				resp, err := api.CancelRun(ctx, &rapidbytev1.CancelRunRequest{RunId: args[0]})
				if err != nil {
					return coord.FromStatus(err)
				}
				state := report.StateName(resp.GetState())
				if a.json() {
					if err := report.WriteJSON(a.env.Stdout, struct {
						RunID    string `json:"run_id"`
						Accepted bool   `json:"accepted"`
						State    string `json:"state"`
					}{args[0], resp.GetAccepted(), state}); err != nil {
						return err
					}
				} else if resp.GetAccepted() {
					if _, err := fmt.Fprintf(a.env.Stdout, "Cancellation of run %s requested (state %s).\n", args[0], state); err != nil {
						return err
					}
				}
				if !resp.GetAccepted() {
					return &exitError{code: ExitFailure, msg: fmt.Sprintf("run %s already finished (%s); nothing to cancel", args[0], state)}
				}
				return nil
			})
		},
	}
}
