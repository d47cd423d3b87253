package e2etest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Stream is one source stream of a Pipeline (YAML source.streams[]).
type Stream struct {
	Name             string   `json:"name"`
	Namespace        string   `json:"namespace,omitempty"`
	SyncMode         string   `json:"sync_mode,omitempty"`
	CursorField      string   `json:"cursor_field,omitempty"`
	TieBreakerField  string   `json:"tie_breaker_field,omitempty"`
	Columns          []string `json:"columns,omitempty"`
	PartitionKey     string   `json:"partition_key,omitempty"`
	Partitions       int      `json:"partitions,omitempty"`
	DestinationTable string   `json:"destination_table,omitempty"`
}

// Pipeline builds a pipeline file (DESIGN §3). It is rendered as JSON,
// which is valid YAML.
type Pipeline struct {
	// Name is the pipeline name (it scopes cursors).
	Name string
	// SourceUse and DestinationUse default to source-postgres and dest-postgres.
	SourceUse, DestinationUse string
	// Source and Destination are connector configs, e.g. PGConfig(db, "public").
	Source, Destination map[string]any
	// Streams are the source streams.
	Streams []Stream
	// WriteMode is append (default), replace or upsert.
	WriteMode string
	// PrimaryKey is the upsert key.
	PrimaryKey []string
	// Resources is the resources section (max_retries, checkpoint_interval_rows, ...).
	Resources map[string]any
	// DestinationPolicies are more destination keys (on_data_error,
	// max_failed_records, schema_evolution).
	DestinationPolicies map[string]any
}

// PGConfig returns db's connector config with schema set (when not empty).
func PGConfig(db *DB, schema string) map[string]any {
	m := db.ConnectorConfig()
	if schema != "" {
		m["schema"] = schema
	}
	return m
}

// YAML renders the pipeline file; it fails the test when a config value
// cannot be marshaled.
func (p Pipeline) YAML(t testing.TB) string {
	t.Helper()
	type source struct {
		Use     string         `json:"use"`
		Config  map[string]any `json:"config"`
		Streams []Stream       `json:"streams"`
	}
	doc := struct {
		Version     string         `json:"version"`
		Pipeline    string         `json:"pipeline"`
		Source      source         `json:"source"`
		Destination map[string]any `json:"destination"`
		Resources   map[string]any `json:"resources,omitempty"`
	}{
		Version:     "1.0",
		Pipeline:    p.Name,
		Source:      source{Use: or(p.SourceUse, "source-postgres"), Config: p.Source, Streams: p.Streams},
		Destination: map[string]any{"use": or(p.DestinationUse, "dest-postgres"), "config": p.Destination},
		Resources:   p.Resources,
	}
	if p.WriteMode != "" {
		doc.Destination["write_mode"] = p.WriteMode
	}
	if len(p.PrimaryKey) > 0 {
		doc.Destination["primary_key"] = p.PrimaryKey
	}
	for k, v := range p.DestinationPolicies {
		doc.Destination[k] = v
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatalf("render pipeline %q: %v", p.Name, err)
	}
	return string(b) + "\n"
}

// Write writes the pipeline into a new temporary directory and returns the file's path.
func (p Pipeline) Write(t testing.TB) string {
	t.Helper()
	return WriteFile(t, "pipeline.yaml", p.YAML(t))
}

// WriteFile writes content to name in a new temporary directory and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
