package protoconv

import (
	"encoding/json"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
	"github.com/rapidbyte/rapidbyte/sdk/abi"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

var stateToProto = map[store.RunState]rapidbytev1.RunState{
	store.StatePending:   rapidbytev1.RunState_RUN_STATE_PENDING,
	store.StateRunning:   rapidbytev1.RunState_RUN_STATE_RUNNING,
	store.StateSucceeded: rapidbytev1.RunState_RUN_STATE_SUCCEEDED,
	store.StateFailed:    rapidbytev1.RunState_RUN_STATE_FAILED,
	store.StateCancelled: rapidbytev1.RunState_RUN_STATE_CANCELLED,
}

var stateFromProto = invert(stateToProto)

// StateToProto converts a run state; unknown states are UNSPECIFIED.
func StateToProto(s store.RunState) rapidbytev1.RunState { return stateToProto[s] }

// StateFromProto converts a proto run state; ok is false for UNSPECIFIED
// and unknown values.
func StateFromProto(s rapidbytev1.RunState) (store.RunState, bool) {
	v, ok := stateFromProto[s]
	return v, ok
}

// Timestamp converts t; the zero time becomes nil.
func Timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// RunToProto converts a run without its attempts and streams (as ListRuns
// returns it).
func RunToProto(r store.Run) *rapidbytev1.RunResult {
	return &rapidbytev1.RunResult{
		RunId:           r.ID,
		Pipeline:        r.Pipeline,
		State:           StateToProto(r.State),
		RecordsRead:     r.RecordsRead,
		RecordsWritten:  r.RecordsWritten,
		RecordsFailed:   r.RecordsFailed,
		BytesRead:       r.BytesRead,
		BytesWritten:    r.BytesWritten,
		DurationSecs:    r.DurationSecs,
		RetryCount:      uint32(r.RetryCount()),
		Attempts:        uint32(max(r.Attempts, 0)),
		Timings:         TimingsToProto(r.Timings),
		Error:           ErrorToProto(r.Error),
		CreatedAt:       Timestamp(r.CreatedAt),
		StartedAt:       Timestamp(r.StartedAt),
		FinishedAt:      Timestamp(r.FinishedAt),
		IdempotencyKey:  r.IdempotencyKey,
		CancelRequested: r.CancelRequested,
		Follow:          r.Follow,
	}
}

// RunDetailToProto converts a run with its attempts and stream results.
func RunDetailToProto(r store.Run, attempts []store.Attempt, streams []store.StreamResult) *rapidbytev1.RunResult {
	out := RunToProto(r)
	for _, a := range attempts {
		out.AttemptHistory = append(out.AttemptHistory, &rapidbytev1.Attempt{
			Number:     uint32(max(a.Number, 0)),
			StartedAt:  Timestamp(a.StartedAt),
			FinishedAt: Timestamp(a.FinishedAt),
			Error:      ErrorToProto(a.Error),
			Streams:    a.Streams,
		})
	}
	for _, s := range streams {
		out.Streams = append(out.Streams, StreamResultToProto(s))
	}
	return out
}

// StreamResultToProto converts a stream result.
func StreamResultToProto(s store.StreamResult) *rapidbytev1.StreamResult {
	return &rapidbytev1.StreamResult{
		Stream:         s.Stream,
		Partition:      s.Partition,
		State:          StateToProto(s.State),
		RecordsRead:    s.RecordsRead,
		RecordsWritten: s.RecordsWritten,
		RecordsFailed:  s.RecordsFailed,
		BytesRead:      s.BytesRead,
		BytesWritten:   s.BytesWritten,
		Attempts:       uint32(max(s.Attempts, 0)),
		DurationSecs:   s.DurationSecs,
		Error:          ErrorToProto(s.Error),
		Checkpoint:     CheckpointToProto(s.Checkpoint),
		SourceWorker:   s.SourceWorker,
		DestWorker:     s.DestWorker,
	}
}

// TimingsToProto converts per-phase timings.
func TimingsToProto(t store.Timings) *rapidbytev1.PhaseTimings {
	return &rapidbytev1.PhaseTimings{
		SourceModuleLoadMs: t.SourceModuleLoadMs,
		DestModuleLoadMs:   t.DestModuleLoadMs,
		SourceDurationSecs: t.SourceDurationSecs,
		DestDurationSecs:   t.DestDurationSecs,
		PlanSecs:           t.PlanSecs,
		RetryWaitSecs:      t.RetryWaitSecs,
		SourceConnectSecs:  t.SourceConnectSecs,
		SourceQuerySecs:    t.SourceQuerySecs,
		SourceFetchSecs:    t.SourceFetchSecs,
		DestConnectSecs:    t.DestConnectSecs,
		DestFlushSecs:      t.DestFlushSecs,
		DestCommitSecs:     t.DestCommitSecs,
	}
}

// ManifestToProto converts a connector manifest.
func ManifestToProto(m abi.Manifest) *rapidbytev1.ConnectorManifest {
	out := &rapidbytev1.ConnectorManifest{
		Id:           m.ID,
		Version:      m.Version,
		Description:  m.Description,
		ConfigSchema: string(m.ConfigSchema),
		AbiVersion:   m.ABIVersion,
		Digest:       m.Digest,
		SizeBytes:    m.SizeBytes,
		SecretFields: m.SecretFields,
	}
	if m.Capabilities != (abi.Capabilities{}) {
		out.Capabilities = &rapidbytev1.ConnectorCapabilities{Partitions: m.Capabilities.Partitions}
	}
	if len(m.Permissions.AllowedHosts) > 0 || len(m.Permissions.EnvVars) > 0 {
		out.Permissions = &rapidbytev1.Permissions{AllowedHosts: m.Permissions.AllowedHosts, EnvVars: m.Permissions.EnvVars}
	}
	for _, r := range m.Roles {
		out.Roles = append(out.Roles, rapidbytev1.Role(rapidbytev1.Role_value["ROLE_"+strings.ToUpper(r)]))
	}
	for _, s := range m.SyncModes {
		out.SyncModes = append(out.SyncModes, rapidbytev1.SyncMode(rapidbytev1.SyncMode_value["SYNC_MODE_"+strings.ToUpper(s)]))
	}
	for _, w := range m.WriteModes {
		out.WriteModes = append(out.WriteModes, rapidbytev1.WriteMode(rapidbytev1.WriteMode_value["WRITE_MODE_"+strings.ToUpper(w)]))
	}
	return out
}

// ManifestFromProto converts a connector manifest back (enum names to
// the lower-case short names).
func ManifestFromProto(p *rapidbytev1.ConnectorManifest) abi.Manifest {
	m := abi.Manifest{
		ID: p.GetId(), Version: p.GetVersion(), Description: p.GetDescription(),
		ABIVersion: p.GetAbiVersion(), Digest: p.GetDigest(), SizeBytes: p.GetSizeBytes(), SecretFields: p.GetSecretFields(),
		Permissions:  abi.Permissions{AllowedHosts: p.GetPermissions().GetAllowedHosts(), EnvVars: p.GetPermissions().GetEnvVars()},
		Capabilities: abi.Capabilities{Partitions: p.GetCapabilities().GetPartitions()},
	}
	if s := p.GetConfigSchema(); s != "" {
		m.ConfigSchema = json.RawMessage(s)
	}
	for _, r := range p.GetRoles() {
		m.Roles = append(m.Roles, strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")))
	}
	for _, s := range p.GetSyncModes() {
		m.SyncModes = append(m.SyncModes, strings.ToLower(strings.TrimPrefix(s.String(), "SYNC_MODE_")))
	}
	for _, w := range p.GetWriteModes() {
		m.WriteModes = append(m.WriteModes, strings.ToLower(strings.TrimPrefix(w.String(), "WRITE_MODE_")))
	}
	return m
}
