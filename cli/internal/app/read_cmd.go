package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

func (a *app) readCommand() *cobra.Command {
	var (
		vars   varsFlag
		stream string
		limit  int64
	)
	cmd := &cobra.Command{
		Use:   "read PIPELINE.yaml --stream NAME [--limit N]",
		Short: "Read one stream of the pipeline's source and print its records (no destination)",
		Long: "read runs the source of one stream on a worker, as a run would (same config, sync mode,\n" +
			"cursor field, columns and batch limits), and prints its records instead of writing them:\n" +
			"a table (-o text or -o table: a header of column names, then one line per row, NULL for\n" +
			"nulls) or JSON lines (-o json: one object per row, keys in column order). Nothing is\n" +
			"written and no run, cursor or state is recorded; an incremental stream is read from its\n" +
			"start. --limit stops after N rows. The pipeline needs only version, pipeline and source.",
		Args: pipelineArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if stream == "" {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--stream is required")}
			}
			if limit < 0 {
				return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf("--limit %d: must not be negative", limit)}
			}
			ctx := cmd.Context()
			file := args[0]
			text, variables, err := a.loadPipeline(cmd, file, &vars)
			if err != nil {
				return err
			}
			return a.withSession(ctx, pipelineConnectors(text, false), func(api rapidbytev1.CoordinatorServiceClient) error {
				rs, err := api.ReadStream(ctx, &rapidbytev1.ReadStreamRequest{PipelineYaml: text, Variables: variables, Stream: stream, Limit: uint64(limit)})
				if err != nil {
					return a.pipelineError(ctx, api, file, coord.FromStatus(err))
				}
				out := report.NewRecordWriter(a.env.Stdout, a.json())
				err = printRecords(rs, out, limit)
				if err == nil || out.Rows() > 0 {
					fmt.Fprintf(a.env.Stderr, "Read %d rows of stream %s\n", out.Rows(), stream)
				}
				if err != nil {
					return a.pipelineError(ctx, api, file, coord.FromStatus(err))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "", "the stream to read (a streams entry's name or namespace.name)")
	cmd.Flags().Int64Var(&limit, "limit", 0, "stop after this many rows (0: the whole stream)")
	vars.register(cmd)
	return cmd
}

// printRecords decodes the stream's Arrow IPC messages and prints up to
// limit rows (0: all).
func printRecords(rs grpc.ServerStreamingClient[rapidbytev1.ReadStreamResponse], out *report.RecordWriter, limit int64) error {
	rd, err := flight.NewRecordReader(flightStream{rs})
	if errors.Is(err, io.EOF) {
		return nil // an empty stream sent nothing, not even a schema
	}
	if err != nil {
		return err
	}
	defer rd.Release()
	for rd.Next() {
		rec := rd.RecordBatch()
		if left := limit - out.Rows(); limit > 0 && rec.NumRows() > left {
			rec = rec.NewSlice(0, left)
			defer rec.Release()
		}
		if err := out.Write(rec); err != nil {
			return err
		}
		if limit > 0 && out.Rows() >= limit {
			return nil
		}
	}
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// flightStream presents ReadStream's messages as Flight data.
type flightStream struct {
	rs grpc.ServerStreamingClient[rapidbytev1.ReadStreamResponse]
}

// Recv returns the next message.
func (s flightStream) Recv() (*flight.FlightData, error) {
	m, err := s.rs.Recv()
	if err != nil {
		return nil, err
	}
	return &flight.FlightData{DataHeader: m.GetDataHeader(), DataBody: m.GetDataBody()}, nil
}
