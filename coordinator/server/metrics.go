package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
