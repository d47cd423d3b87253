package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// BenchPrefix starts the machine-readable trailer line of a run summary.
const BenchPrefix = "@@BENCH_JSON@@"

// Run is a run's result as the CLI prints it; its JSON form is the @@BENCH_JSON@@ payload.
type Run struct {
	RunID              string         `json:"run_id"`
	Pipeline           string         `json:"pipeline"`
	State              string         `json:"state"`
	RecordsRead        uint64         `json:"records_read"`
	RecordsWritten     uint64         `json:"records_written"`
	RecordsFailed      uint64         `json:"records_failed"`
	BytesRead          uint64         `json:"bytes_read"`
	BytesWritten       uint64         `json:"bytes_written"`
	DurationSecs       float64        `json:"duration_secs"`
	RecordsPerSec      float64        `json:"records_per_sec"`
	MBPerSec           float64        `json:"mb_per_sec"`
	RetryCount         uint32         `json:"retry_count"`
	Attempts           uint32         `json:"attempts"`
	SourceModuleLoadMs uint64         `json:"source_module_load_ms"`
	DestModuleLoadMs   uint64         `json:"dest_module_load_ms"`
	SourceDurationSecs float64        `json:"source_duration_secs"`
	DestDurationSecs   float64        `json:"dest_duration_secs"`
	SourceConnectSecs  float64        `json:"source_connect_secs"`
	SourceQuerySecs    float64        `json:"source_query_secs"`
	SourceFetchSecs    float64        `json:"source_fetch_secs"`
	DestConnectSecs    float64        `json:"dest_connect_secs"`
	DestFlushSecs      float64        `json:"dest_flush_secs"`
	DestCommitSecs     float64        `json:"dest_commit_secs"`
	PlanSecs           float64        `json:"plan_secs"`
	RetryWaitSecs      float64        `json:"retry_wait_secs"`
	Streams            []Stream       `json:"streams"`
	Error              *coord.Failure `json:"error,omitempty"`
	AttemptErrors      []AttemptError `json:"attempt_errors,omitempty"`
	IdempotencyKey     string         `json:"idempotency_key,omitempty"`
	Follow             bool           `json:"follow,omitempty"`
	AlreadyExists      bool           `json:"already_exists,omitempty"`
	CreatedAt          *time.Time     `json:"created_at,omitempty"`
	FinishedAt         *time.Time     `json:"finished_at,omitempty"`
}

// Stream is one stream (or partition) of a run.
type Stream struct {
	Stream         string         `json:"stream"`
	Partition      uint32         `json:"partition"`
	State          string         `json:"state"`
	RecordsRead    uint64         `json:"records_read"`
	RecordsWritten uint64         `json:"records_written"`
	RecordsFailed  uint64         `json:"records_failed"`
	BytesRead      uint64         `json:"bytes_read"`
	BytesWritten   uint64         `json:"bytes_written"`
	DurationSecs   float64        `json:"duration_secs"`
	Attempts       uint32         `json:"attempts"`
	Error          *coord.Failure `json:"error,omitempty"`
	// Guarantee, when set, says that the stream's delivery guarantee is
	// weaker than exactly-once, and when.
	Guarantee string `json:"guarantee,omitempty"`
	// Lag, for the change stream of a running follow run, is how far the
	// destination is behind the source.
	Lag *Lag `json:"lag,omitempty"`
}

// Lag is how far a change stream's destination is behind its source.
type Lag struct {
	// Bytes is the source's newest WAL position minus the last persisted one.
	Bytes uint64 `json:"bytes"`
	// Seconds is the age of the last persisted transaction (0 when caught up).
	Seconds float64 `json:"seconds"`
}

// LagFromProto converts a stream lag; nil stays nil.
func LagFromProto(l *rapidbytev1.StreamLag) *Lag {
	if l == nil {
		return nil
	}
	return &Lag{Bytes: l.GetBytes(), Seconds: round(l.GetSeconds(), 3)}
}

// String renders a lag: "12.0 KiB, 0.4 s".
func (l Lag) String() string {
	return fmt.Sprintf("%s, %s", Bytes(l.Bytes), Secs(l.Seconds))
}

// keylessGuarantee is the Guarantee of a stream read in physical order (no
// key, no cursor, or source-postgres's full_refresh_order: physical): its
// checkpoints name a ctid.
const keylessGuarantee = "no key or cursor (or physical order): a retry resumes at a physical position (ctid), so rows updated or deleted " +
	"during the run may be copied twice or missed; exactly once only when the table does not change during the run"

// AttemptError is the error that ended one failed attempt.
type AttemptError struct {
	Attempt uint32         `json:"attempt"`
	Error   *coord.Failure `json:"error"`
}

// StateName is a run state without its enum prefix: "SUCCEEDED".
func StateName(s rapidbytev1.RunState) string {
	return strings.TrimPrefix(s.String(), "RUN_STATE_")
}

// Final reports whether a run in state s will not change any more.
func Final(s rapidbytev1.RunState) bool {
	switch s {
	case rapidbytev1.RunState_RUN_STATE_SUCCEEDED, rapidbytev1.RunState_RUN_STATE_FAILED, rapidbytev1.RunState_RUN_STATE_CANCELLED:
		return true
	}
	return false
}

// guarantee returns the Guarantee of a stream whose last acknowledged
// checkpoint is cp.
func guarantee(cp *rapidbytev1.Checkpoint) string {
	if cp.GetCursorField() == "ctid" {
		return keylessGuarantee
	}
	return ""
}

// FromProto converts a run result.
func FromProto(r *rapidbytev1.RunResult) Run {
	t := r.GetTimings()
	out := Run{
		RunID:              r.GetRunId(),
		Pipeline:           r.GetPipeline(),
		State:              StateName(r.GetState()),
		RecordsRead:        r.GetRecordsRead(),
		RecordsWritten:     r.GetRecordsWritten(),
		RecordsFailed:      r.GetRecordsFailed(),
		BytesRead:          r.GetBytesRead(),
		BytesWritten:       r.GetBytesWritten(),
		DurationSecs:       r.GetDurationSecs(),
		RecordsPerSec:      round(rate(float64(r.GetRecordsRead()), r.GetDurationSecs()), 1),
		MBPerSec:           round(rate(float64(r.GetBytesRead())/mib, r.GetDurationSecs()), 3),
		RetryCount:         r.GetRetryCount(),
		Attempts:           r.GetAttempts(),
		SourceModuleLoadMs: uint64(math.Round(max(t.GetSourceModuleLoadMs(), 0))),
		DestModuleLoadMs:   uint64(math.Round(max(t.GetDestModuleLoadMs(), 0))),
		SourceDurationSecs: t.GetSourceDurationSecs(),
		DestDurationSecs:   t.GetDestDurationSecs(),
		SourceConnectSecs:  round(t.GetSourceConnectSecs(), 6),
		SourceQuerySecs:    round(t.GetSourceQuerySecs(), 6),
		SourceFetchSecs:    round(t.GetSourceFetchSecs(), 6),
		DestConnectSecs:    round(t.GetDestConnectSecs(), 6),
		DestFlushSecs:      round(t.GetDestFlushSecs(), 6),
		DestCommitSecs:     round(t.GetDestCommitSecs(), 6),
		PlanSecs:           t.GetPlanSecs(),
		RetryWaitSecs:      t.GetRetryWaitSecs(),
		Streams:            make([]Stream, 0, len(r.GetStreams())),
		Error:              coord.FailureFromProto(r.GetError()),
		IdempotencyKey:     r.GetIdempotencyKey(),
		Follow:             r.GetFollow(),
	}
	for _, s := range r.GetStreams() {
		out.Streams = append(out.Streams, Stream{
			Stream:         s.GetStream(),
			Partition:      s.GetPartition(),
			State:          StateName(s.GetState()),
			RecordsRead:    s.GetRecordsRead(),
			RecordsWritten: s.GetRecordsWritten(),
			RecordsFailed:  s.GetRecordsFailed(),
			BytesRead:      s.GetBytesRead(),
			BytesWritten:   s.GetBytesWritten(),
			DurationSecs:   s.GetDurationSecs(),
			Attempts:       s.GetAttempts(),
			Error:          coord.FailureFromProto(s.GetError()),
			Guarantee:      guarantee(s.GetCheckpoint()),
			Lag:            LagFromProto(s.GetLag()),
		})
	}
	for _, a := range r.GetAttemptHistory() {
		if a.GetError() != nil {
			out.AttemptErrors = append(out.AttemptErrors, AttemptError{Attempt: a.GetNumber(), Error: coord.FailureFromProto(a.GetError())})
		}
	}
	if r.GetCreatedAt() != nil {
		ts := r.GetCreatedAt().AsTime()
		out.CreatedAt = &ts
	}
	if r.GetFinishedAt() != nil {
		ts := r.GetFinishedAt().AsTime()
		out.FinishedAt = &ts
	}
	return out
}

// partitioned reports whether any stream of the run is split into partitions.
func (r Run) partitioned() bool {
	for _, s := range r.Streams {
		if s.Partition > 0 {
			return true
		}
	}
	return false
}

// Headline is the first line of a run summary.
func (r Run) Headline() string {
	name := r.Pipeline
	if name == "" {
		name = r.RunID
	}
	switch r.State {
	case "SUCCEEDED":
		return fmt.Sprintf("Pipeline '%s' completed successfully.", name)
	case "FAILED":
		return fmt.Sprintf("Pipeline '%s' failed after %d attempt(s).", name, r.Attempts)
	case "CANCELLED":
		return fmt.Sprintf("Pipeline '%s' was cancelled.", name)
	default:
		return fmt.Sprintf("Pipeline '%s' is %s (attempt %d).", name, strings.ToLower(r.State), r.Attempts)
	}
}

// WriteText writes the human summary of a run followed by the @@BENCH_JSON@@ trailer.
func WriteText(w io.Writer, r Run) error {
	p := &printer{w: w}
	p.line(r.Headline())
	p.kv("Run", r.RunID)
	if r.Follow {
		p.kv("Mode", "follow (the change stream reads until the run is cancelled)")
	}
	if r.AlreadyExists {
		p.kv("Note", "an earlier run with the same idempotency key was returned")
	}
	p.kv("Records read", Count(r.RecordsRead))
	p.kv("Records written", Count(r.RecordsWritten))
	if r.RecordsFailed > 0 {
		p.kv("Records failed", Count(r.RecordsFailed)+" (rejected by the destination, on_data_error skip or dlq)")
	}
	p.kv("Bytes read", Bytes(r.BytesRead))
	p.kv("Bytes written", Bytes(r.BytesWritten))
	if r.RecordsRead > 0 {
		p.kv("Avg row size", fmt.Sprintf("%d B", r.BytesRead/r.RecordsRead))
	}
	p.kv("Duration", Secs(r.DurationSecs))
	p.kv("Throughput", fmt.Sprintf("%s rows/sec, %.2f MB/s", Count(uint64(r.RecordsPerSec+0.5)), r.MBPerSec))
	p.kv("Phases", fmt.Sprintf("plan %s, source %s, destination %s, retry wait %s",
		Secs(r.PlanSecs), Secs(r.SourceDurationSecs), Secs(r.DestDurationSecs), Secs(r.RetryWaitSecs)))
	p.kv("Source phases", fmt.Sprintf("connect %s, query %s, fetch %s", Secs(r.SourceConnectSecs), Secs(r.SourceQuerySecs), Secs(r.SourceFetchSecs)))
	p.kv("Dest phases", fmt.Sprintf("connect %s, flush %s, commit %s", Secs(r.DestConnectSecs), Secs(r.DestFlushSecs), Secs(r.DestCommitSecs)))
	p.kv("Module load", fmt.Sprintf("source %d ms, destination %d ms", r.SourceModuleLoadMs, r.DestModuleLoadMs))
	// The seed's plan prints "  Retries:         N" after the module-load
	// lines; each failed attempt's error follows on a line of its own.
	if r.RetryCount > 0 {
		p.kv("Retries", strconv.FormatUint(uint64(r.RetryCount), 10))
		for _, a := range r.AttemptErrors {
			p.line(fmt.Sprintf("    attempt %d: %s", a.Attempt, FailureLine(a.Error)))
		}
	}
	if len(r.Streams) > 0 {
		p.line("  Streams:")
		width := 0
		names := make([]string, len(r.Streams))
		for i, s := range r.Streams {
			names[i] = s.Stream
			if r.partitioned() {
				names[i] = fmt.Sprintf("%s[%d]", s.Stream, s.Partition)
			}
			width = max(width, len(names[i]))
		}
		for i, s := range r.Streams {
			line := fmt.Sprintf("    %-*s  %s read, %s written, %s, %s, %s",
				width, names[i], Count(s.RecordsRead), Count(s.RecordsWritten), Bytes(s.BytesRead), Secs(s.DurationSecs), s.State)
			if s.RecordsFailed > 0 {
				line += fmt.Sprintf(", %s failed", Count(s.RecordsFailed))
			}
			if s.Attempts > 1 {
				line += fmt.Sprintf(", %d attempts", s.Attempts)
			}
			if s.Lag != nil {
				line += ", lag " + s.Lag.String()
			}
			if s.Error != nil && s.State != "SUCCEEDED" {
				line += ": " + FailureLine(s.Error)
			}
			p.line(line)
			if s.Guarantee != "" {
				p.line(fmt.Sprintf("    %-*s  note: %s", width, "", s.Guarantee))
			}
		}
	}
	if r.Error != nil {
		p.kv("Error", FailureLine(r.Error))
	}
	b, err := compactJSON(r)
	if err != nil {
		return fmt.Errorf("encode run result: %w", err)
	}
	p.line(BenchPrefix + string(b))
	return p.err
}

// FailureLine renders a failure on one line: connector, message, category/code and hint.
func FailureLine(f *coord.Failure) string {
	if f == nil {
		return "unknown error"
	}
	msg := strings.Join(strings.Fields(f.Message), " ")
	if f.Connector != "" && !strings.HasPrefix(msg, f.Connector) {
		msg = f.Connector + ": " + msg
	}
	class := f.Category
	if f.Code != "" {
		class += "/" + f.Code
	}
	out := fmt.Sprintf("%s (%s)", msg, class)
	if f.Hint != "" {
		out += "; hint: " + strings.Join(strings.Fields(f.Hint), " ")
	}
	return out
}

// printer writes lines and remembers the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, s+"\n")
	}
}

func (p *printer) kv(k, v string) {
	p.line(fmt.Sprintf("  %-16s %s", k+":", v))
}
