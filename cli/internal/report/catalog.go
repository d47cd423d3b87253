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

// Discovery is a pipeline's catalog as discover prints it.
type Discovery struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Source is the source connector as the pipeline names it.
	Source string
	// Catalog holds the streams the pipeline selects (all without entries).
	Catalog *rapidbytev1.Catalog
	// SelectedBy maps "schema.table" to the stream pattern that selected it.
	SelectedBy map[string]string
}

// DiscoveryFromProto converts a discover response.
func DiscoveryFromProto(r *rapidbytev1.CoordinatorServiceDiscoverResponse) Discovery {
	d := Discovery{Pipeline: r.GetPipeline(), Source: r.GetSource(), Catalog: catalogOrEmpty(r.GetCatalog())}
	for _, s := range r.GetSelections() {
		if d.SelectedBy == nil {
			d.SelectedBy = map[string]string{}
		}
		d.SelectedBy[qualified(s.GetNamespace(), s.GetName())] = s.GetPattern()
	}
	return d
}

// WriteDiscoverJSON writes the whole discover response as one JSON line.
func WriteDiscoverJSON(w io.Writer, r *rapidbytev1.CoordinatorServiceDiscoverResponse) error {
	b, err := ProtoJSON(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteCatalogText writes the catalog for people, line for line as the
// seed's plan prints it, then a blank line and the @@CATALOG_JSON@@ trailer
// with the pretty-printed catalog (CatalogDoc). Facts the plan lacks
// (cursor candidates, the pattern that selected a stream) follow a stream's
// columns on lines of their own.
func WriteCatalogText(w io.Writer, d Discovery) error {
	c := catalogOrEmpty(d.Catalog)
	p := &printer{w: w}
	p.line(fmt.Sprintf("Catalog for '%s' (source: %s)", d.Pipeline, d.Source))
	p.line(fmt.Sprintf("  Streams: %d", len(c.GetStreams())))
	doc := CatalogDoc(c)
	for i, s := range c.GetStreams() {
		ds := doc.Streams[i]
		p.line("")
		p.line("  Stream: " + ds.Name)
		if len(ds.SupportedSyncModes) > 0 {
			p.line("    Sync modes:  " + strings.Join(ds.SupportedSyncModes, ", "))
		}
		if ds.SourceDefinedCursor != nil {
			p.line("    Cursor:      " + *ds.SourceDefinedCursor)
		}
		if len(ds.SourceDefinedPrimaryKey) > 0 {
			p.line("    Primary key: " + strings.Join(ds.SourceDefinedPrimaryKey, ", "))
		}
		if len(ds.Schema) > 0 {
			p.line("    Columns:")
			for _, col := range ds.Schema {
				null := "NULL"
				if !col.Nullable {
					null = "NOT NULL"
				}
				p.line(fmt.Sprintf("      %s %s %s", col.Name, col.DataType, null))
			}
		}
		if f := s.GetDefaultCursorField(); f != "" && !s.GetSourceDefinedCursor() {
			p.line("    Default cursor: " + f)
		}
		if len(s.GetCursorCandidates()) > 0 {
			p.line("    Cursor candidates: " + strings.Join(s.GetCursorCandidates(), ", "))
		}
		if pat := d.SelectedBy[ds.Name]; pat != "" {
			p.line("    Selected by: " + pat)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "list<utf8>" stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	p.line("")
	p.line(CatalogPrefix + strings.TrimSuffix(b.String(), "\n"))
	return p.err
}

// Catalog is the @@CATALOG_JSON@@ document, in the seed's catalog schema
// (name, schema, supported_sync_modes, source_defined_cursor,
// source_defined_primary_key) plus a few keys of ours after them.
type Catalog struct {
	Streams []CatalogStream `json:"streams"`
}

// CatalogStream is one stream of the @@CATALOG_JSON@@ document.
type CatalogStream struct {
	// Name is "schema.table", as a pipeline's stream entry may name it.
	Name                    string          `json:"name"`
	Schema                  []CatalogColumn `json:"schema"`
	SupportedSyncModes      []string        `json:"supported_sync_modes"`
	SourceDefinedCursor     *string         `json:"source_defined_cursor"`
	SourceDefinedPrimaryKey []string        `json:"source_defined_primary_key"`
	Namespace               string          `json:"namespace,omitempty"`
	DefaultCursorField      string          `json:"default_cursor_field,omitempty"`
	CursorCandidates        []string        `json:"cursor_candidates,omitempty"`
}

// CatalogColumn is one column of a CatalogStream.
type CatalogColumn struct {
	Name       string `json:"name"`
	DataType   string `json:"data_type"`
	Nullable   bool   `json:"nullable"`
	SourceType string `json:"source_type,omitempty"`
}

// CatalogDoc converts a catalog to the @@CATALOG_JSON@@ document. Sync
// modes are lower-case (full_refresh, incremental, cdc); a cursor the source
// does not define is null.
func CatalogDoc(c *rapidbytev1.Catalog) Catalog {
	out := Catalog{Streams: make([]CatalogStream, 0, len(c.GetStreams()))}
	for _, s := range c.GetStreams() {
		cs := CatalogStream{
			Name:                    qualified(s.GetNamespace(), s.GetName()),
			Schema:                  make([]CatalogColumn, 0, len(s.GetColumns())),
			SupportedSyncModes:      make([]string, 0, len(s.GetSupportedSyncModes())),
			SourceDefinedPrimaryKey: append([]string{}, s.GetSourceDefinedPrimaryKey()...),
			Namespace:               s.GetNamespace(),
			DefaultCursorField:      s.GetDefaultCursorField(),
			CursorCandidates:        s.GetCursorCandidates(),
		}
		for _, col := range s.GetColumns() {
			cs.Schema = append(cs.Schema, CatalogColumn{
				Name: col.GetName(), DataType: col.GetArrowType(), Nullable: col.GetNullable(), SourceType: col.GetSourceType(),
			})
		}
		for _, m := range s.GetSupportedSyncModes() {
			cs.SupportedSyncModes = append(cs.SupportedSyncModes, coord.EnumName(m.String(), "SYNC_MODE_"))
		}
		if f := s.GetDefaultCursorField(); f != "" && s.GetSourceDefinedCursor() {
			cs.SourceDefinedCursor = &f
		}
		out.Streams = append(out.Streams, cs)
	}
	return out
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "." + name
}

func catalogOrEmpty(c *rapidbytev1.Catalog) *rapidbytev1.Catalog {
	if c == nil {
		return &rapidbytev1.Catalog{}
	}
	return c
}
