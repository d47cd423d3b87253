// Package metrics holds the worker's Prometheus metrics in a private
// registry: gRPC RED metrics (grpc_server_*), Go and process collectors, and
// the rapidbyte_worker_* domain metrics. Handler serves /metrics and
// /healthz.
package metrics

import (
	"net/http"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the worker's metric set. Its methods are safe for concurrent use.
type Metrics struct {
	// Registry holds every metric below.
	Registry *prometheus.Registry
	// GRPC provides the server interceptors for the RED metrics.
	GRPC *grpcprom.ServerMetrics

	rows, bytes  *prometheus.CounterVec
	guests       prometheus.Gauge
	hits, misses prometheus.Counter
}

// New registers and returns a fresh metric set.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		GRPC:     grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapidbyte_worker_rows_total", Help: "Rows read or written by connectors.",
		}, []string{"connector", "op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapidbyte_worker_bytes_total", Help: "Arrow bytes read or written by connectors.",
		}, []string{"connector", "op"}),
		guests: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rapidbyte_worker_guest_instances", Help: "Guest instances running now.",
		}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapidbyte_worker_module_cache_hits_total", Help: "Module resolutions served by an already compiled module.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapidbyte_worker_module_cache_misses_total", Help: "Module resolutions that had to load and compile a module.",
		}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.GRPC, m.rows, m.bytes, m.guests, m.hits, m.misses,
	)
	return m
}

// GuestStarted counts a guest instance that starts.
func (m *Metrics) GuestStarted() { m.guests.Inc() }

// GuestFinished counts a guest instance that ends.
func (m *Metrics) GuestFinished() { m.guests.Dec() }

// Processed adds rows and bytes a connector read or wrote.
func (m *Metrics) Processed(connector, op string, rows, bytes uint64) {
	m.rows.WithLabelValues(connector, op).Add(float64(rows))
	m.bytes.WithLabelValues(connector, op).Add(float64(bytes))
}

// CacheHit counts a resolution served from memory.
func (m *Metrics) CacheHit() { m.hits.Inc() }

// CacheMiss counts a resolution that loaded a module.
func (m *Metrics) CacheMiss() { m.misses.Inc() }

// ObserveMemory exports a guest memory budget of total bytes and the bytes
// reserved() from it now, as rapidbyte_worker_guest_memory_budget_bytes and
// rapidbyte_worker_guest_memory_reserved_bytes. Call it once.
func (m *Metrics) ObserveMemory(total int64, reserved func() int64) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rapidbyte_worker_guest_memory_budget_bytes", Help: "Bytes of guest memory caps reads and writes may reserve at once (cgroup memory limit less a reserve).",
		}, func() float64 { return float64(total) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rapidbyte_worker_guest_memory_reserved_bytes", Help: "Bytes of guest memory caps reserved by admitted reads and writes now.",
		}, func() float64 { return float64(reserved()) }),
	)
}

// Handler serves /metrics and /healthz, which answers 200 while serving()
// is true and 503 otherwise. When pprofToken is set, it also serves the Go
// profiler under /debug/pprof/ to requests bearing that token (--pprof).
func (m *Metrics) Handler(serving func() bool, pprofToken string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if serving() {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "not serving", http.StatusServiceUnavailable)
	})
	if pprofToken != "" {
		registerPprof(mux, pprofToken)
	}
	return mux
}
