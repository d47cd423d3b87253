package protoconv

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"

	rbv1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// ConfigJSON encodes a connector config as a JSON object ("{}" when nil).
func ConfigJSON(s *structpb.Struct) (json.RawMessage, error) {
	if s == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := s.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b, nil
}

// StreamSpecFromProto converts a stream spec; nil gives the zero spec.
func StreamSpecFromProto(p *rbv1.StreamSpec) abi.StreamSpec {
	if p == nil {
		return abi.StreamSpec{}
	}
	s := abi.StreamSpec{
		Namespace:         p.GetNamespace(),
		Name:              p.GetName(),
		SyncMode:          SyncModeName(p.GetSyncMode()),
		CursorField:       p.GetCursorField(),
		TieBreakerField:   p.GetTieBreakerField(),
		Columns:           p.GetColumns(),
		WriteMode:         WriteModeName(p.GetWriteMode()),
		PrimaryKey:        p.GetPrimaryKey(),
		OnDataError:       enumName(p.GetOnDataError(), prefixDataError),
		NewColumn:         enumName(p.GetNewColumn(), prefixNewColumn),
		RemovedColumn:     enumName(p.GetRemovedColumn(), prefixRemovedColumn),
		TypeChange:        enumName(p.GetTypeChange(), prefixTypeChange),
		NullabilityChange: enumName(p.GetNullabilityChange(), prefixNullability),
		MaxFailedRecords:  p.GetMaxFailedRecords(),
		DestinationTable:  p.GetDestinationTable(),
		Pipeline:          p.GetPipeline(),
		Follow:            p.GetFollow(),
	}
	if pp := p.GetPartition(); pp != nil {
		s.Partition = &abi.Partition{Index: pp.GetIndex(), Count: pp.GetCount(), Key: pp.GetKey(),
			Snapshot: pp.GetSnapshot(), ExportSnapshot: pp.GetExportSnapshot()}
	}
	if l := p.GetLimits(); l != nil {
		s.Limits = abi.Limits{
			MaxBatchBytes:             l.GetMaxBatchBytes(),
			MaxBatchRows:              l.GetMaxBatchRows(),
			CheckpointIntervalRows:    l.GetCheckpointIntervalRows(),
			CheckpointIntervalBytes:   l.GetCheckpointIntervalBytes(),
			CheckpointIntervalSeconds: l.GetCheckpointIntervalSeconds(),
			MaxMemoryBytes:            l.GetMaxMemoryBytes(),
		}
	}
	return s
}

// StreamSpecToProto converts a stream spec back (RunID and Attempt travel
// in the tickets, not in the proto StreamSpec).
func StreamSpecToProto(s abi.StreamSpec) *rbv1.StreamSpec {
	p := &rbv1.StreamSpec{
		Namespace:         s.Namespace,
		Name:              s.Name,
		SyncMode:          SyncModeFromName(s.SyncMode),
		CursorField:       s.CursorField,
		TieBreakerField:   s.TieBreakerField,
		Columns:           s.Columns,
		WriteMode:         WriteModeFromName(s.WriteMode),
		PrimaryKey:        s.PrimaryKey,
		OnDataError:       rbv1.DataErrorPolicy(enumNumber(rbv1.DataErrorPolicy(0).Descriptor(), prefixDataError, s.OnDataError)),
		NewColumn:         rbv1.NewColumnPolicy(enumNumber(rbv1.NewColumnPolicy(0).Descriptor(), prefixNewColumn, s.NewColumn)),
		RemovedColumn:     rbv1.RemovedColumnPolicy(enumNumber(rbv1.RemovedColumnPolicy(0).Descriptor(), prefixRemovedColumn, s.RemovedColumn)),
		TypeChange:        rbv1.TypeChangePolicy(enumNumber(rbv1.TypeChangePolicy(0).Descriptor(), prefixTypeChange, s.TypeChange)),
		NullabilityChange: rbv1.NullabilityChangePolicy(enumNumber(rbv1.NullabilityChangePolicy(0).Descriptor(), prefixNullability, s.NullabilityChange)),
		MaxFailedRecords:  s.MaxFailedRecords,
		DestinationTable:  s.DestinationTable,
		Pipeline:          s.Pipeline,
		Follow:            s.Follow,
	}
	if s.Partition != nil {
		p.Partition = &rbv1.Partition{Index: s.Partition.Index, Count: s.Partition.Count, Key: s.Partition.Key,
			Snapshot: s.Partition.Snapshot, ExportSnapshot: s.Partition.ExportSnapshot}
	}
	if s.Limits != (abi.Limits{}) {
		p.Limits = &rbv1.Limits{
			MaxBatchBytes:             s.Limits.MaxBatchBytes,
			MaxBatchRows:              s.Limits.MaxBatchRows,
			CheckpointIntervalRows:    s.Limits.CheckpointIntervalRows,
			CheckpointIntervalBytes:   s.Limits.CheckpointIntervalBytes,
			CheckpointIntervalSeconds: s.Limits.CheckpointIntervalSeconds,
			MaxMemoryBytes:            s.Limits.MaxMemoryBytes,
		}
	}
	return p
}

// CursorFromProto converts a cursor value; nil or unset gives nil.
func CursorFromProto(p *rbv1.CursorValue) *abi.CursorValue {
	switch v := p.GetValue().(type) {
	case *rbv1.CursorValue_IntValue:
		return &abi.CursorValue{Int: &v.IntValue}
	case *rbv1.CursorValue_DoubleValue:
		return &abi.CursorValue{Double: &v.DoubleValue}
	case *rbv1.CursorValue_StringValue:
		return &abi.CursorValue{String: &v.StringValue}
	case *rbv1.CursorValue_TimestampMicros:
		return &abi.CursorValue{TimestampMicros: &v.TimestampMicros}
	case *rbv1.CursorValue_DateDays:
		return &abi.CursorValue{DateDays: &v.DateDays}
	case *rbv1.CursorValue_DecimalValue:
		return &abi.CursorValue{Decimal: &v.DecimalValue}
	default:
		return nil
	}
}

// CursorToProto converts a cursor value; nil or empty gives nil.
func CursorToProto(c *abi.CursorValue) *rbv1.CursorValue {
	switch {
	case c == nil:
		return nil
	case c.Int != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_IntValue{IntValue: *c.Int}}
	case c.Double != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_DoubleValue{DoubleValue: *c.Double}}
	case c.String != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_StringValue{StringValue: *c.String}}
	case c.TimestampMicros != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_TimestampMicros{TimestampMicros: *c.TimestampMicros}}
	case c.DateDays != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_DateDays{DateDays: *c.DateDays}}
	case c.Decimal != nil:
		return &rbv1.CursorValue{Value: &rbv1.CursorValue_DecimalValue{DecimalValue: *c.Decimal}}
	default:
		return nil
	}
}

// CheckpointFromProto converts a checkpoint; nil gives nil.
func CheckpointFromProto(p *rbv1.Checkpoint) *abi.Checkpoint {
	if p == nil {
		return nil
	}
	return &abi.Checkpoint{
		ID:              p.GetId(),
		Stream:          p.GetStream(),
		CursorField:     p.GetCursorField(),
		CursorValue:     CursorFromProto(p.GetCursorValue()),
		TieBreakerField: p.GetTieBreakerField(),
		TieBreakerValue: CursorFromProto(p.GetTieBreakerValue()),
		Records:         p.GetRecords(),
		Bytes:           p.GetBytes(),
		Partition:       p.GetPartition(),
		Log:             logFromProto(p.GetLog()),
	}
}

func logFromProto(p *rbv1.LogPosition) *abi.LogPosition {
	if p == nil {
		return nil
	}
	return &abi.LogPosition{Position: p.GetPosition(), Head: p.GetHead(), CommitTimeMicros: p.GetCommitTimeMicros()}
}

// CheckpointToProto converts a checkpoint; nil gives nil.
func CheckpointToProto(c *abi.Checkpoint) *rbv1.Checkpoint {
	if c == nil {
		return nil
	}
	return &rbv1.Checkpoint{
		Id:              c.ID,
		Stream:          c.Stream,
		CursorField:     c.CursorField,
		CursorValue:     CursorToProto(c.CursorValue),
		TieBreakerField: c.TieBreakerField,
		TieBreakerValue: CursorToProto(c.TieBreakerValue),
		Records:         c.Records,
		Bytes:           c.Bytes,
		Partition:       c.Partition,
		Log:             logToProto(c.Log),
	}
}

func logToProto(l *abi.LogPosition) *rbv1.LogPosition {
	if l == nil {
		return nil
	}
	return &rbv1.LogPosition{Position: l.Position, Head: l.Head, CommitTimeMicros: l.CommitTimeMicros}
}

// CatalogToProto converts a catalog; nil gives an empty catalog.
func CatalogToProto(c *abi.Catalog) *rbv1.Catalog {
	out := &rbv1.Catalog{}
	if c == nil {
		return out
	}
	for _, s := range c.Streams {
		ps := &rbv1.Stream{
			Namespace:               s.Namespace,
			Name:                    s.Name,
			SupportedSyncModes:      sliceOf(s.SupportedSyncModes, SyncModeFromName),
			SourceDefinedCursor:     s.SourceDefinedCursor,
			DefaultCursorField:      s.DefaultCursorField,
			SourceDefinedPrimaryKey: s.SourceDefinedPrimaryKey,
			CursorCandidates:        s.CursorCandidates,
			EstimatedBytes:          s.EstimatedBytes,
		}
		for _, col := range s.Columns {
			ps.Columns = append(ps.Columns, &rbv1.Column{
				Name: col.Name, ArrowType: col.ArrowType, Nullable: col.Nullable, SourceType: col.SourceType,
			})
		}
		out.Streams = append(out.Streams, ps)
	}
	return out
}

// StreamSchemasFromProto converts the streams of a CheckRequest.
func StreamSchemasFromProto(ps []*rbv1.StreamSchema) []abi.StreamSchema {
	var out []abi.StreamSchema
	for _, p := range ps {
		s := abi.StreamSchema{Stream: StreamSpecFromProto(p.GetStream()), Fields: []abi.Field{}}
		for _, c := range p.GetColumns() {
			s.Fields = append(s.Fields, abi.Field{Name: c.GetName(), Type: c.GetArrowType(), Nullable: c.GetNullable(), SourceType: c.GetSourceType()})
		}
		out = append(out, s)
	}
	return out
}

// CatalogFromProto converts a catalog back; nil gives nil.
func CatalogFromProto(p *rbv1.Catalog) *abi.Catalog {
	if p == nil {
		return nil
	}
	out := &abi.Catalog{Streams: []abi.Stream{}}
	for _, ps := range p.GetStreams() {
		s := abi.Stream{
			Namespace:               ps.GetNamespace(),
			Name:                    ps.GetName(),
			Columns:                 []abi.Column{},
			SupportedSyncModes:      namesOf(ps.GetSupportedSyncModes(), SyncModeName),
			SourceDefinedCursor:     ps.GetSourceDefinedCursor(),
			DefaultCursorField:      ps.GetDefaultCursorField(),
			SourceDefinedPrimaryKey: ps.GetSourceDefinedPrimaryKey(),
			CursorCandidates:        ps.GetCursorCandidates(),
			EstimatedBytes:          ps.GetEstimatedBytes(),
		}
		for _, col := range ps.GetColumns() {
			s.Columns = append(s.Columns, abi.Column{
				Name: col.GetName(), ArrowType: col.GetArrowType(), Nullable: col.GetNullable(), SourceType: col.GetSourceType(),
			})
		}
		out.Streams = append(out.Streams, s)
	}
	return out
}

// ErrorToProto converts a connector error envelope; connector is the id of
// the failing connector.
func ErrorToProto(e abi.ErrorEnvelope, connector string) *rbv1.ConnectorError {
	return &rbv1.ConnectorError{
		Category:     CategoryFromName(e.Category),
		Code:         e.Code,
		Message:      e.Message,
		Retryable:    e.Retryable,
		SafeToRetry:  e.SafeToRetry,
		CommitState:  rbv1.CommitState(enumNumber(rbv1.CommitState(0).Descriptor(), prefixCommitState, e.CommitState)),
		RetryAfterMs: e.RetryAfterMs,
		Scope:        rbv1.ErrorScope(enumNumber(rbv1.ErrorScope(0).Descriptor(), prefixScope, e.Scope)),
		BackoffClass: rbv1.BackoffClass(enumNumber(rbv1.BackoffClass(0).Descriptor(), prefixBackoff, e.BackoffClass)),
		Connector:    connector,
		Hint:         e.Hint,
	}
}

// ErrorFromProto converts a ConnectorError back to an envelope and the
// connector id; nil gives the zero envelope.
func ErrorFromProto(p *rbv1.ConnectorError) (abi.ErrorEnvelope, string) {
	if p == nil {
		return abi.ErrorEnvelope{}, ""
	}
	return abi.ErrorEnvelope{
		Category:     CategoryName(p.GetCategory()),
		Code:         p.GetCode(),
		Message:      p.GetMessage(),
		Retryable:    p.GetRetryable(),
		SafeToRetry:  p.GetSafeToRetry(),
		CommitState:  enumName(p.GetCommitState(), prefixCommitState),
		RetryAfterMs: p.GetRetryAfterMs(),
		Scope:        enumName(p.GetScope(), prefixScope),
		BackoffClass: enumName(p.GetBackoffClass(), prefixBackoff),
		Hint:         p.GetHint(),
	}, p.GetConnector()
}

// ManifestToProto converts a manifest. ConfigSchema travels as JSON text.
func ManifestToProto(m abi.Manifest) *rbv1.ConnectorManifest {
	p := &rbv1.ConnectorManifest{
		Id:           m.ID,
		Version:      m.Version,
		Description:  m.Description,
		Roles:        sliceOf(m.Roles, RoleFromName),
		SyncModes:    sliceOf(m.SyncModes, SyncModeFromName),
		WriteModes:   sliceOf(m.WriteModes, WriteModeFromName),
		ConfigSchema: string(m.ConfigSchema),
		AbiVersion:   m.ABIVersion,
		Digest:       m.Digest,
		SizeBytes:    m.SizeBytes,
		SecretFields: m.SecretFields,
	}
	if m.Capabilities != (abi.Capabilities{}) {
		p.Capabilities = &rbv1.ConnectorCapabilities{Partitions: m.Capabilities.Partitions}
	}
	if len(m.Permissions.AllowedHosts) > 0 || len(m.Permissions.EnvVars) > 0 {
		p.Permissions = &rbv1.Permissions{AllowedHosts: m.Permissions.AllowedHosts, EnvVars: m.Permissions.EnvVars}
	}
	return p
}

// ManifestFromProto converts a manifest back.
func ManifestFromProto(p *rbv1.ConnectorManifest) abi.Manifest {
	m := abi.Manifest{
		ID:           p.GetId(),
		Version:      p.GetVersion(),
		Description:  p.GetDescription(),
		Roles:        namesOf(p.GetRoles(), RoleName),
		SyncModes:    namesOf(p.GetSyncModes(), SyncModeName),
		WriteModes:   namesOf(p.GetWriteModes(), WriteModeName),
		ABIVersion:   p.GetAbiVersion(),
		Digest:       p.GetDigest(),
		SizeBytes:    p.GetSizeBytes(),
		SecretFields: p.GetSecretFields(),
		Permissions: abi.Permissions{
			AllowedHosts: p.GetPermissions().GetAllowedHosts(),
			EnvVars:      p.GetPermissions().GetEnvVars(),
		},
		Capabilities: abi.Capabilities{Partitions: p.GetCapabilities().GetPartitions()},
	}
	if s := p.GetConfigSchema(); s != "" {
		m.ConfigSchema = json.RawMessage(s)
	}
	return m
}
