package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func (a *app) checkCommand() *cobra.Command {
	var vars varsFlag
	cmd := &cobra.Command{
		Use:   "check PIPELINE.yaml",
		Short: "Verify a pipeline: structure, connectors, source, destination and state",
		Args:  pipelineArg,
		RunE: a.pipelineCall(&vars, true, func(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, file, text string, variables map[string]string) error {
			resp, err := api.Check(ctx, &rapidbytev1.CoordinatorServiceCheckRequest{PipelineYaml: text, Variables: variables})
			if err != nil {
				return err
			}
			res := report.CheckFromProto(resp)
			for _, f := range itemFailures(res) {
				if isValidation(&coord.Error{Failure: f}) {
					f.Message = strings.Join(fileLines(file, f.Message), "\n")
				}
			}
			if err := printAs(a, res, report.WriteCheckText); err != nil {
				return err
			}
			if !res.OK {
				failed := res.Failed()
				msg := fmt.Sprintf("%d of %d checks failed: %s", len(failed), len(res.Items), strings.Join(failed, ", "))
				if len(failed) == 0 {
					msg = "the coordinator reported the pipeline as not OK"
				}
				if failureNamesUnknownConnector(itemFailures(res)...) {
					if known := knownConnectors(ctx, api); known != "" {
						msg += "; available connectors: " + known
					}
				}
				return &exitError{code: ExitFailure, msg: msg}
			}
			return nil
		}),
	}
	vars.register(cmd)
	return cmd
}

func (a *app) discoverCommand() *cobra.Command {
	var vars varsFlag
	cmd := &cobra.Command{
		Use:   "discover PIPELINE.yaml",
		Short: "List the streams the pipeline's source can read",
		Long: "Discover prints the source's streams with their sync modes, cursor, primary key and columns,\n" +
			"then @@CATALOG_JSON@@ and the catalog as pretty-printed JSON; -o json prints only the response JSON.\n" +
			"The pipeline needs only version, pipeline and source; the streams it lists (patterns such as\n" +
			"\"public.*\" included) filter the catalog.",
		Args: pipelineArg,
		RunE: a.pipelineCall(&vars, false, func(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, _, text string, variables map[string]string) error {
			resp, err := api.Discover(ctx, &rapidbytev1.CoordinatorServiceDiscoverRequest{PipelineYaml: text, Variables: variables})
			if err != nil {
				return err
			}
			if a.json() {
				return report.WriteDiscoverJSON(a.env.Stdout, resp)
			}
			return report.WriteCatalogText(a.env.Stdout, report.DiscoveryFromProto(resp))
		}),
	}
	vars.register(cmd)
	return cmd
}

func (a *app) connectorsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "connectors",
		Short: "List the connector modules the coordinator can serve",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.withSession(ctx, nil, func(api rapidbytev1.CoordinatorServiceClient) error {
				resp, err := api.ListConnectors(ctx, &rapidbytev1.ListConnectorsRequest{})
				if err != nil {
					return coord.FromStatus(err)
				}
				cs := report.ConnectorsFromProto(resp.GetConnectors())
				return printAs(a, cs, report.WriteConnectorsText)
			})
		},
	}
}

// itemFailures lists the failures of a check's failed items.
func itemFailures(c report.Check) []*coord.Failure {
	var out []*coord.Failure
	for _, it := range c.Items {
		if !it.OK && it.Error != nil {
			out = append(out, it.Error)
		}
	}
	return out
}

// noArgs rejects positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}
