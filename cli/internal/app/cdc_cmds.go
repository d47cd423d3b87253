package app

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func (a *app) cdcCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cdc",
		Short: "Manage a pipeline's change data capture (replication slot, publication, cursor)",
		Args:  noArgs,
	}
	cmd.AddCommand(a.cdcDropCommand())
	return cmd
}

// dropResult is what `cdc drop` prints.
type dropResult struct {
	Pipeline      string `json:"pipeline"`
	Source        string `json:"source"`
	CursorDeleted bool   `json:"cursor_deleted"`
}

func (a *app) cdcDropCommand() *cobra.Command {
	var vars varsFlag
	cmd := &cobra.Command{
		Use:   "drop PIPELINE.yaml",
		Short: "Drop the pipeline's replication slot and publication and forget its cdc cursor",
		Long: "Drop asks the source connector to drop the pipeline's replication slot and publication\n" +
			"(replication_slot and publication in its config, default rapidbyte_<pipeline>), then forgets\n" +
			"the pipeline's persisted change stream position, so the next run takes a new snapshot.\n" +
			"It refuses while the pipeline has an active run or the slot is in use.",
		Args: pipelineArg,
		RunE: a.pipelineCall(&vars, false, func(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, _, text string, variables map[string]string) error {
			resp, err := api.DropChangeStream(ctx, &rapidbytev1.DropChangeStreamRequest{PipelineYaml: text, Variables: variables})
			if err != nil {
				return err
			}
			res := dropResult{Pipeline: resp.GetPipeline(), Source: resp.GetMessage(), CursorDeleted: resp.GetCursorDeleted()}
			return printAs(a, res, writeDropText)
		}),
	}
	vars.register(cmd)
	return cmd
}

func writeDropText(w io.Writer, r dropResult) error {
	cursor := "no change stream position was persisted; the next run takes a snapshot"
	if r.CursorDeleted {
		cursor = "forgot the persisted change stream position: the next run takes a new snapshot"
	}
	_, err := fmt.Fprintf(w, "Change stream of pipeline '%s' dropped.\n  Source:  %s\n  Cursor:  %s\n", r.Pipeline, r.Source, cursor)
	return err
}
