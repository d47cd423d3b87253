package source

import (
	"context"

	"github.com/rapidbyte/rapidbyte/connectors/internal/pgcatalog"
	"github.com/rapidbyte/rapidbyte/connectors/internal/pgclient"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Discover lists every base table of schema (an empty schema: every
// non-system schema), or those named in names when it is not empty, as a
// stream: columns in ordinal order with Arrow and source types, primary
// key, sync modes, cursor candidates and estimated size.
func Discover(ctx context.Context, conn *pgclient.Conn, schema string, names []string) (abi.Catalog, error) {
	tables, err := pgcatalog.Tables(ctx, conn, schema, names)
	if err != nil {
		return abi.Catalog{}, err
	}
	// Sizes only order a run's streams: without them every stream's is
	// unknown, and the run starts them in the pipeline's order.
	sizes, _ := pgcatalog.Sizes(ctx, conn, schema, names)
	cat := abi.Catalog{Streams: make([]abi.Stream, 0, len(tables))}
	for _, t := range tables {
		s := abi.Stream{
			Namespace:               t.Schema,
			Name:                    t.Name,
			Columns:                 make([]abi.Column, 0, len(t.Columns)),
			SupportedSyncModes:      []string{ModeFullRefresh, ModeIncremental},
			SourceDefinedPrimaryKey: t.PrimaryKey,
			EstimatedBytes:          sizes[[2]string{t.Schema, t.Name}],
		}
		for _, c := range t.Columns {
			s.Columns = append(s.Columns, abi.Column{Name: c.Name, ArrowType: c.Type.Arrow(), Nullable: c.Nullable, SourceType: c.SourceType})
			if c.Type.IsCursorCandidate() {
				s.CursorCandidates = append(s.CursorCandidates, c.Name)
			}
		}
		if len(s.CursorCandidates) == 0 {
			s.SupportedSyncModes = []string{ModeFullRefresh}
		}
		cat.Streams = append(cat.Streams, s)
	}
	return cat, nil
}
