package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// Connector is one connector module as the CLI lists it.
type Connector struct {
	ID          string   `json:"id"`
	Version     string   `json:"version"`
	Roles       []string `json:"roles"`
	Digest      string   `json:"digest"`
	SizeBytes   uint64   `json:"size_bytes"`
	Description string   `json:"description"`
	SyncModes   []string `json:"sync_modes,omitempty"`
	WriteModes  []string `json:"write_modes,omitempty"`
}

// ConnectorsFromProto converts connector manifests.
func ConnectorsFromProto(ms []*rapidbytev1.ConnectorManifest) []Connector {
	out := make([]Connector, 0, len(ms))
	for _, m := range ms {
		c := Connector{
			ID:          m.GetId(),
			Version:     m.GetVersion(),
			Roles:       []string{},
			Digest:      m.GetDigest(),
			SizeBytes:   m.GetSizeBytes(),
			Description: m.GetDescription(),
		}
		for _, r := range m.GetRoles() {
			c.Roles = append(c.Roles, coord.EnumName(r.String(), "ROLE_"))
		}
		for _, s := range m.GetSyncModes() {
			c.SyncModes = append(c.SyncModes, coord.EnumName(s.String(), "SYNC_MODE_"))
		}
		for _, s := range m.GetWriteModes() {
			c.WriteModes = append(c.WriteModes, coord.EnumName(s.String(), "WRITE_MODE_"))
		}
		out = append(out, c)
	}
	return out
}

// ShortDigest keeps the algorithm and the first 12 hex digits of a digest.
func ShortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok {
		algo, hex = "", d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	if algo == "" {
		return hex
	}
	return algo + ":" + hex
}

// WriteConnectorsText writes a table of connectors.
func WriteConnectorsText(w io.Writer, cs []Connector) error {
	if len(cs) == 0 {
		_, err := io.WriteString(w, "No connectors found.\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tROLES\tDIGEST\tDESCRIPTION")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, dash(c.Version), dash(strings.Join(c.Roles, ",")),
			dash(ShortDigest(c.Digest)), strings.Join(strings.Fields(c.Description), " "))
	}
	return tw.Flush()
}

// WriteRunsText writes a table of runs, newest first as given.
func WriteRunsText(w io.Writer, runs []Run) error {
	if len(runs) == 0 {
		_, err := io.WriteString(w, "No runs found.\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tPIPELINE\tSTATE\tRECORDS\tDURATION\tRETRIES\tCREATED")
	for _, r := range runs {
		created := "-"
		if r.CreatedAt != nil {
			created = r.CreatedAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.RunID, dash(r.Pipeline), r.State,
			Count(r.RecordsWritten), Secs(r.DurationSecs), r.RetryCount, created)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
