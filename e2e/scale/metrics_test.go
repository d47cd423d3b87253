package scale

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseSamples parses the Prometheus text format (comments and blank lines
// skipped; timestamps ignored).
func parseSamples(text string) ([]sample, error) {
	var out []sample
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", i+1, line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseLine(line string) (sample, error) {
	s := sample{Labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.Name, line = line[:end], line[end:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ,")
			if line == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(line); j++ {
				c := line[j]
				if c == '\\' && j+1 < len(line) {
					j++
					switch line[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[j])
					}
					continue
				}
				if c == '"' {
					line, closed = line[j+1:], true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[key] = val.String()
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value: %w", err)
	}
	s.Value = v
	return s, nil
}

// workerStats is what one scrape of a worker's /metrics tells about its work.
type workerStats struct {
	// RowsRead and RowsWritten sum rapidbyte_worker_rows_total over connectors.
	RowsRead, RowsWritten int64
	// Copies counts CopyStream calls started (grpc_server_started_total):
	// one per stream a worker read and wrote.
	Copies int64
	// DoGet and DoPut count Arrow Flight streams started: the halves of
	// relayed streams, which the coordinator uses only for workers that
	// predate CopyStream.
	DoGet, DoPut int64
	// HealthWatch counts grpc.health.v1.Health/Watch streams started: the
	// coordinator's client-side health checks.
	HealthWatch int64
	// HealthAnswers counts the messages those streams sent (grpc_server_msg_sent_total):
	// the first is the SERVING that makes the coordinator's connection ready.
	HealthAnswers int64
	// Guests is rapidbyte_worker_guest_instances: connector instances running now.
	Guests int64
}

// statsOf extracts workerStats from parsed samples.
func statsOf(samples []sample) workerStats {
	var w workerStats
	for _, s := range samples {
		v := int64(math.Round(s.Value))
		switch s.Name {
		case "rapidbyte_worker_rows_total":
			switch s.Labels["op"] {
			case "read":
				w.RowsRead += v
			case "write":
				w.RowsWritten += v
			}
		case "rapidbyte_worker_guest_instances":
			w.Guests += v
		case "grpc_server_started_total":
			switch svc, m := s.Labels["grpc_service"], s.Labels["grpc_method"]; {
			case svc == "arrow.flight.protocol.FlightService" && m == "DoGet":
				w.DoGet += v
			case svc == "arrow.flight.protocol.FlightService" && m == "DoPut":
				w.DoPut += v
			case svc == "rapidbyte.v1.WorkerService" && m == "CopyStream":
				w.Copies += v
			case svc == "grpc.health.v1.Health" && m == "Watch":
				w.HealthWatch += v
			}
		case "grpc_server_msg_sent_total":
			if s.Labels["grpc_service"] == "grpc.health.v1.Health" && s.Labels["grpc_method"] == "Watch" {
				w.HealthAnswers += v
			}
		}
	}
	return w
}

// sub returns w - o field by field.
func (w workerStats) sub(o workerStats) workerStats {
	return workerStats{RowsRead: w.RowsRead - o.RowsRead, RowsWritten: w.RowsWritten - o.RowsWritten, Copies: w.Copies - o.Copies,
		DoGet: w.DoGet - o.DoGet, DoPut: w.DoPut - o.DoPut, HealthWatch: w.HealthWatch - o.HealthWatch,
		HealthAnswers: w.HealthAnswers - o.HealthAnswers, Guests: w.Guests}
}

// scrape fetches and parses url (a worker's /metrics).
func scrape(ctx context.Context, url string) (workerStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return workerStats{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return workerStats{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return workerStats{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return workerStats{}, fmt.Errorf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	samples, err := parseSamples(string(body))
	if err != nil {
		return workerStats{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	return statsOf(samples), nil
}

func TestParseSamples(t *testing.T) {
	text := `# HELP rapidbyte_worker_rows_total Rows read or written by connectors.
# TYPE rapidbyte_worker_rows_total counter
rapidbyte_worker_rows_total{connector="dest-postgres",op="write"} 300000
rapidbyte_worker_rows_total{connector="source-postgres",op="read"} 1.5e+06
grpc_server_started_total{grpc_method="DoGet",grpc_service="arrow.flight.protocol.FlightService",grpc_type="server_stream"} 3
grpc_server_started_total{grpc_method="DoPut",grpc_service="arrow.flight.protocol.FlightService",grpc_type="bidi_stream"} 2
grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 1
grpc_server_started_total{grpc_method="CopyStream",grpc_service="rapidbyte.v1.WorkerService",grpc_type="bidi_stream"} 4
grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 1
rapidbyte_worker_guest_instances 2
odd{a="x\"y\\z",b="p,q}"} 7 1700000000
go_goroutines 12
`
	samples, err := parseSamples(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(samples); got != 10 {
		t.Fatalf("parsed %d samples, want 10", got)
	}
	if diff := cmp.Diff(sample{Name: "odd", Labels: map[string]string{"a": `x"y\z`, "b": "p,q}"}, Value: 7}, samples[8]); diff != "" {
		t.Errorf("escaped labels (-want +got):\n%s", diff)
	}
	want := workerStats{RowsRead: 1_500_000, RowsWritten: 300_000, Copies: 4, DoGet: 3, DoPut: 2, HealthWatch: 1, HealthAnswers: 1, Guests: 2}
	if diff := cmp.Diff(want, statsOf(samples)); diff != "" {
		t.Errorf("statsOf (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`x{a="1"`, `x{a=1} 2`, `x{a="1"}`, `{a="1"} 2`, `x 1e`} {
		if _, err := parseSamples(bad); err == nil {
			t.Errorf("parseSamples(%q) succeeded, want an error", bad)
		}
	}
}
