package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// CatalogPrefix starts the machine-readable trailer line of discover.
const CatalogPrefix = "@@CATALOG_JSON@@"

// ProtoJSON renders m as compact, stable JSON with proto field names and every field
// present. protojson randomizes its whitespace on purpose, so the bytes are re-compacted.
func ProtoJSON(m proto.Message) ([]byte, error) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("compact %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return buf.Bytes(), nil
}

// WriteCatalogJSON writes the catalog as one JSON line.
func WriteCatalogJSON(w io.Writer, c *rapidbytev1.Catalog) error {
	b, err := ProtoJSON(catalogOrEmpty(c))
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteCatalogText writes every stream of the catalog for people, then the
// @@CATALOG_JSON@@ trailer.
func WriteCatalogText(w io.Writer, c *rapidbytev1.Catalog) error {
	c = catalogOrEmpty(c)
	p := &printer{w: w}
	p.line(fmt.Sprintf("Discovered %d stream(s):", len(c.GetStreams())))
	for _, s := range c.GetStreams() {
		p.line("")
		name := s.GetName()
		if s.GetNamespace() != "" {
			name = s.GetNamespace() + "." + name
		}
		p.line("Stream: " + name)
		modes := make([]string, 0, len(s.GetSupportedSyncModes()))
		for _, m := range s.GetSupportedSyncModes() {
			modes = append(modes, coord.EnumName(m.String(), "SYNC_MODE_"))
		}
		p.line("  Sync modes: " + orNone(modes))
		p.line("  Cursor: " + cursorText(s))
		p.line("  Primary key: " + orNone(s.GetSourceDefinedPrimaryKey()))
		p.line(fmt.Sprintf("  Columns (%d):", len(s.GetColumns())))
		for _, col := range s.GetColumns() {
			null := "NULL"
			if !col.GetNullable() {
				null = "NOT NULL"
			}
			line := fmt.Sprintf("    - %s (%s, %s)", col.GetName(), col.GetArrowType(), null)
			if col.GetSourceType() != "" {
				line += " " + col.GetSourceType()
			}
			p.line(line)
		}
	}
	b, err := ProtoJSON(c)
	if err != nil {
		return err
	}
	p.line(CatalogPrefix + string(b))
	return p.err
}

func cursorText(s *rapidbytev1.Stream) string {
	var parts []string
	switch {
	case s.GetDefaultCursorField() != "" && s.GetSourceDefinedCursor():
		parts = append(parts, s.GetDefaultCursorField()+" (source-defined)")
	case s.GetDefaultCursorField() != "":
		parts = append(parts, s.GetDefaultCursorField()+" (default)")
	default:
		parts = append(parts, "none")
	}
	if len(s.GetCursorCandidates()) > 0 {
		parts = append(parts, "candidates: "+strings.Join(s.GetCursorCandidates(), ", "))
	}
	return strings.Join(parts, "; ")
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, ", ")
}

func catalogOrEmpty(c *rapidbytev1.Catalog) *rapidbytev1.Catalog {
	if c == nil {
		return &rapidbytev1.Catalog{}
	}
	return c
}
