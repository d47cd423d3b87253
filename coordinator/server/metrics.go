package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/engine"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
)

// runMetrics exports run lifecycle metrics; it implements engine.Observer.
type runMetrics struct {
	active   prometheus.Gauge
	finished *prometheus.CounterVec
	retries  prometheus.Counter
	records  prometheus.Counter
	bytes    prometheus.Counter
	duration prometheus.Histogram
}

func newRunMetrics(reg prometheus.Registerer) *runMetrics {
	m := &runMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rapidbyte_coordinator_active_runs", Help: "Runs currently executing.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapidbyte_coordinator_runs_total", Help: "Runs that reached a final state, by state.",
		}, []string{"state"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapidbyte_coordinator_run_retries_total", Help: "Retries of failed streams.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapidbyte_coordinator_records_written_total", Help: "Records written by finished runs.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapidbyte_coordinator_bytes_written_total", Help: "Arrow bytes written by finished runs.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rapidbyte_coordinator_run_duration_seconds", Help: "Wall time of finished runs.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
		}),
	}
	reg.MustRegister(m.active, m.finished, m.retries, m.records, m.bytes, m.duration)
	return m
}

// RunStarted implements engine.Observer.
func (m *runMetrics) RunStarted() { m.active.Inc() }

// RunRetried implements engine.Observer.
func (m *runMetrics) RunRetried() { m.retries.Inc() }

// RunFinished implements engine.Observer.
func (m *runMetrics) RunFinished(state store.RunState, started bool, records, bytes uint64, d time.Duration) {
	if started {
		m.active.Dec()
	}
	m.finished.WithLabelValues(string(state)).Inc()
	m.records.Add(float64(records))
	m.bytes.Add(float64(bytes))
	m.duration.Observe(d.Seconds())
}

// lagCollector exports the lag of the change streams of the follow runs
// executing here, read from the engine at each scrape.
type lagCollector struct {
	lags        func() []engine.StreamLag
	bytes, secs *prometheus.Desc
}

func newLagCollector(e *engine.Engine) *lagCollector {
	labels := []string{"pipeline", "stream", "run_id"}
	return &lagCollector{
		lags: e.Lags,
		bytes: prometheus.NewDesc("rapidbyte_coordinator_cdc_lag_bytes",
			"Change stream lag of a follow run: the newest source WAL position reported minus the last persisted checkpoint's.", labels, nil),
		secs: prometheus.NewDesc("rapidbyte_coordinator_cdc_lag_seconds",
			"Change stream lag of a follow run: seconds since the source committed the last persisted transaction (0 when caught up).", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.secs
}

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.lags() {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(l.Lag.Bytes), l.Pipeline, l.Stream, l.RunID)
		ch <- prometheus.MustNewConstMetric(c.secs, prometheus.GaugeValue, l.Lag.Seconds, l.Pipeline, l.Stream, l.RunID)
	}
}
