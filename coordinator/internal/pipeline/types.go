package pipeline

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Version is the only pipeline schema version accepted.
const Version = "1.0"

// Defaults for optional fields.
const (
	DefaultMaxRetries              = 3
	DefaultParallelism             = 4
	DefaultMaxInflightBatches      = 16
	DefaultMaxBatchBytes           = 64 << 20
	DefaultMaxBatchRows            = 16384
	DefaultCheckpointIntervalBytes = 64 << 20
)

// SyncMode says how a source reads a stream.
type SyncMode string

// Sync modes.
const (
	SyncFullRefresh SyncMode = "full_refresh"
	SyncIncremental SyncMode = "incremental"
	SyncCDC         SyncMode = "cdc"
)

// WriteMode says how a destination applies a stream.
type WriteMode string

// Write modes.
const (
	WriteAppend  WriteMode = "append"
	WriteReplace WriteMode = "replace"
	WriteUpsert  WriteMode = "upsert"
)

// DataErrorPolicy says what a destination does with a record it cannot write.
type DataErrorPolicy string

// Data error policies.
const (
	OnDataErrorFail DataErrorPolicy = "fail"
	OnDataErrorSkip DataErrorPolicy = "skip"
	OnDataErrorDLQ  DataErrorPolicy = "dlq"
)

// NewColumnPolicy says what a destination does with a column its table lacks.
type NewColumnPolicy string

// New column policies.
const (
	NewColumnAdd    NewColumnPolicy = "add"
	NewColumnIgnore NewColumnPolicy = "ignore"
	NewColumnFail   NewColumnPolicy = "fail"
)

// RemovedColumnPolicy says what a destination does with a target column
// the stream no longer has.
type RemovedColumnPolicy string

// Removed column policies.
const (
	RemovedColumnIgnore RemovedColumnPolicy = "ignore"
	RemovedColumnFail   RemovedColumnPolicy = "fail"
)

// TypeChangePolicy says what a destination does with a column whose
// source type differs from the target column's.
type TypeChangePolicy string

// Type change policies.
const (
	TypeChangeCoerce TypeChangePolicy = "coerce"
	TypeChangeFail   TypeChangePolicy = "fail"
	TypeChangeNull   TypeChangePolicy = "null"
)

// NullabilityChangePolicy says what a destination does when a source
// column became nullable while the target column is NOT NULL.
type NullabilityChangePolicy string

// Nullability change policies.
const (
	NullabilityAllow NullabilityChangePolicy = "allow"
	NullabilityFail  NullabilityChangePolicy = "fail"
)

// StateBackend is where a pipeline's state lives.
type StateBackend string

// State backends.
const (
	StateSQLite   StateBackend = "sqlite"
	StatePostgres StateBackend = "postgres"
)

// ConnectorRef names a connector module: "id" or "id@version".
type ConnectorRef struct {
	// ID is the connector's identifier, e.g. "source-postgres".
	ID string
	// Version is the requested version; empty means the only or newest one.
	Version string
}

// ParseConnectorRef splits "id[@version]". It does not validate the parts.
func ParseConnectorRef(s string) ConnectorRef {
	id, version, _ := strings.Cut(s, "@")
	return ConnectorRef{ID: id, Version: version}
}

// String renders the reference as "id" or "id@version".
func (r ConnectorRef) String() string {
	if r.Version == "" {
		return r.ID
	}
	return r.ID + "@" + r.Version
}

// Pipeline is a parsed, validated pipeline definition. Connector configs
// hold ${VAR} references unresolved; see Resolve.
type Pipeline struct {
	// Version is the schema version; always "1.0".
	Version string
	// Name is the pipeline name (YAML key "pipeline"); it scopes cursors.
	Name string
	// Source is where records come from.
	Source Source
	// Destination is where records go.
	Destination Destination
	// State is the pipeline's state backend (default sqlite).
	State State
	// Resources bound the run; every field has a default.
	Resources Resources
	// Permissions apply to both connectors, on top of their own.
	Permissions Permissions
}

// Source is the pipeline's source section.
type Source struct {
	// Use is the source connector.
	Use ConnectorRef
	// Config is the connector config, with ${VAR} references unresolved.
	Config map[string]any
	// Streams are the streams to read; at least one, names unique.
	Streams []StreamConfig
	// Permissions are the source connector's extra grants.
	Permissions Permissions

	configNode *yaml.Node
}

// StreamConfig is one stream to read.
type StreamConfig struct {
	// Name is the stream (table) name; required, unique within the pipeline.
	// A name written "schema.table" without a namespace key is split into
	// Namespace and Name.
	Name string
	// Namespace is the source schema; empty means the connector's default.
	Namespace string
	// SyncMode is how the stream is read (default full_refresh).
	SyncMode SyncMode
	// CursorField is the incremental cursor column; required for incremental.
	CursorField string
	// TieBreakerField orders rows sharing a cursor value; needs CursorField.
	TieBreakerField string
	// Columns is the projection; empty means every column.
	Columns []string
	// PartitionKey is the integer column whose ranges split the stream;
	// only with full_refresh. Empty with Partitions > 1 means ctid ranges.
	PartitionKey string
	// Partitions is the number of partitions (>= 1). It defaults to
	// Resources.Parallelism when PartitionKey is set and to 1 otherwise;
	// more than 1 needs full_refresh.
	Partitions int
	// DestinationTable overrides the destination table name (default Name).
	DestinationTable string
	// Pattern, when set, is the entry's name as written: a shell-style glob
	// ("public.*", "sales.order_*") selecting many tables, matched with
	// path.Match against "schema.table" (or against the table name when it
	// has no dot). Name is then empty until Expand replaces the entry with
	// one stream per selected table.
	Pattern string
	// Exclude lists tables (or globs) a pattern must not select.
	Exclude []string
	// EstimatedBytes is the source's estimate of the stream's size, set
	// when a run is planned from the source's catalog (0 = unknown); an
	// attempt starts its largest streams first.
	EstimatedBytes uint64

	pos streamPos
}

// streamPos is where a stream entry is in the YAML: its path
// ("source.streams[1]"), its mapping and the value node of each key.
type streamPos struct {
	path  string
	entry *yaml.Node
	keys  map[string]*yaml.Node
}

// Destination is the pipeline's destination section.
type Destination struct {
	// Use is the destination connector.
	Use ConnectorRef
	// Config is the connector config, with ${VAR} references unresolved.
	Config map[string]any
	// WriteMode is how streams are applied (default append).
	WriteMode WriteMode
	// PrimaryKey is the key for upserts; required with upsert.
	PrimaryKey []string
	// OnDataError is the policy for records the destination rejects (default fail).
	OnDataError DataErrorPolicy
	// MaxFailedRecords stops the run once a stream rejected more records
	// under skip or dlq (0 = no limit).
	MaxFailedRecords uint64
	// SchemaEvolution is the policy for schema drift.
	SchemaEvolution SchemaEvolution
	// Permissions are the destination connector's extra grants.
	Permissions Permissions

	configNode *yaml.Node
}

// SchemaEvolution is the destination's schema drift policy.
type SchemaEvolution struct {
	// NewColumn is what happens to a column the target lacks (default add).
	NewColumn NewColumnPolicy
	// RemovedColumn is what happens to a target column the stream lacks
	// (default ignore).
	RemovedColumn RemovedColumnPolicy
	// TypeChange is what happens to a column whose type changed (default
	// coerce).
	TypeChange TypeChangePolicy
	// NullabilityChange is what happens when a column became nullable
	// (default allow).
	NullabilityChange NullabilityChangePolicy
}

// State is the pipeline's state section.
type State struct {
	// Backend is sqlite (default) or postgres.
	Backend StateBackend
	// Connection is a path (sqlite) or URL (postgres; required for it).
	// It may hold ${VAR} references, resolved like connector configs.
	Connection string

	connNode *yaml.Node
}

// Resources bound a run. Zero checkpoint intervals mean "off".
type Resources struct {
	// MaxRetries is how many times a failed run is retried (default 3, >= 0).
	MaxRetries int
	// Parallelism is how many streams run at once (default 4, >= 1).
	Parallelism int
	// MaxInflightBatches bounds batches relayed but not yet acked (default 16, >= 1).
	MaxInflightBatches int
	// MaxBatchBytes caps one batch's Arrow bytes (default 64 MiB, > 0).
	MaxBatchBytes uint64
	// MaxBatchRows caps one batch's rows (default 16384, >= 1).
	MaxBatchRows int
	// MaxMemory caps a connector's memory in bytes (default 0 = unlimited).
	MaxMemory uint64
	// CheckpointIntervalRows emits a checkpoint every N rows (default 0 = off).
	CheckpointIntervalRows uint64
	// CheckpointIntervalBytes emits a checkpoint every N bytes (default 64 MiB).
	CheckpointIntervalBytes uint64
	// CheckpointIntervalSeconds emits a checkpoint every N seconds (default 0 = off).
	CheckpointIntervalSeconds int
	// TimeoutSeconds bounds one attempt's wall time (default 0 = none).
	TimeoutSeconds int
}

// Permissions are what a connector may reach outside its sandbox.
type Permissions struct {
	// Network holds the network grants.
	Network NetworkPermissions
}

// NetworkPermissions list hosts a connector may dial besides those in its config.
type NetworkPermissions struct {
	// AllowedHosts are host or host:port patterns.
	AllowedHosts []string
}

// AllowedHosts returns the pipeline-wide hosts followed by the connector's
// own (perms), without duplicates.
func (p *Pipeline) AllowedHosts(perms Permissions) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]string{p.Permissions.Network.AllowedHosts, perms.Network.AllowedHosts} {
		for _, h := range list {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// Stream returns the stream named name, if the pipeline has it.
func (p *Pipeline) Stream(name string) (StreamConfig, bool) {
	for _, s := range p.Source.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return StreamConfig{}, false
}
