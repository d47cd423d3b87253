package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// runResult is one repetition of one mode on one table.
type runResult struct {
	WallSecs   float64          `json:"wall_secs"`
	CPUSecs    float64          `json:"cpu_secs"`
	PeakRSSMiB map[string]int64 `json:"peak_rss_mib,omitempty"` // per process
	// WorkerCPUSecs is each worker's CPU during the run (distributed).
	WorkerCPUSecs map[string]float64 `json:"worker_cpu_secs,omitempty"`
	Verified      bool               `json:"verified"`
	Note          string             `json:"note,omitempty"`
}

// modeResult summarizes the repetitions of one mode on one table.
type modeResult struct {
	Table          string           `json:"table"`
	Mode           string           `json:"mode"`
	Runs           []runResult      `json:"runs"`
	MedianWallSecs float64          `json:"median_wall_secs"`
	RowsPerSec     float64          `json:"rows_per_sec"`
	MBPerSec       float64          `json:"mb_per_sec"`
	RatioToPipe    float64          `json:"ratio_to_pipe"`
	CPUSecsPer1M   float64          `json:"cpu_secs_per_1m_rows"`
	PeakRSSMiB     map[string]int64 `json:"peak_rss_mib,omitempty"` // max over runs, per process
	TotalPeakMiB   int64            `json:"total_peak_rss_mib,omitempty"`
	// MinWorkerShare is the median over runs of the least busy worker's
	// share of the workers' CPU (distributed; 0.5 is an even split).
	MinWorkerShare float64 `json:"min_worker_share,omitempty"`
}

// report is the whole benchmark.
type report struct {
	Time        time.Time          `json:"time"`
	Host        string             `json:"host"`
	Rows        map[string]int64   `json:"rows"`
	SourceMiB   map[string]float64 `json:"source_heap_mib"`
	Partitions  int                `json:"partitions"`
	Results     []modeResult       `json:"results"`
	AllVerified bool               `json:"all_verified"`
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// addResults summarizes each mode's runs (rows and mib are the workload's
// size), sets each mode's ratio to the reference mode's median wall time,
// and appends them to rep, which stays AllVerified only if every run was.
func (rep *report) addResults(results []modeResult, rows int64, mib float64, reference string) {
	var base float64
	for i := range results {
		m := &results[i]
		summarize(m, rows, mib)
		if m.Mode == reference {
			base = m.MedianWallSecs
		}
		for _, r := range m.Runs {
			rep.AllVerified = rep.AllVerified && r.Verified
		}
	}
	for i := range results {
		if base > 0 && results[i].MedianWallSecs > 0 {
			results[i].RatioToPipe = base / results[i].MedianWallSecs
		}
	}
	rep.Results = append(rep.Results, results...)
}

// logRun prints one run's line of progress on stderr.
func logRun(workload, mode string, rep int, res runResult) {
	workers := ""
	for _, name := range slices.Sorted(maps.Keys(res.WorkerCPUSecs)) {
		workers += fmt.Sprintf(" %s %.2fs", name, res.WorkerCPUSecs[name])
	}
	if workers != "" {
		workers = " workers' cpu:" + workers
	}
	fmt.Fprintf(os.Stderr, "%s %-11s rep %d: %.2fs cpu %.2fs rss %v%s verified=%v\n", workload, mode, rep, res.WallSecs, res.CPUSecs, res.PeakRSSMiB, workers, res.Verified)
}

// summarize fills the derived fields of m from its runs.
func summarize(m *modeResult, rows int64, mib float64) {
	var walls, cpus []float64
	m.PeakRSSMiB = map[string]int64{}
	for _, r := range m.Runs {
		walls = append(walls, r.WallSecs)
		cpus = append(cpus, r.CPUSecs)
		for p, v := range r.PeakRSSMiB {
			m.PeakRSSMiB[p] = max(m.PeakRSSMiB[p], v)
		}
	}
	m.MedianWallSecs = median(walls)
	if m.MedianWallSecs > 0 {
		m.RowsPerSec = float64(rows) / m.MedianWallSecs
		m.MBPerSec = mib / m.MedianWallSecs
	}
	if rows > 0 {
		m.CPUSecsPer1M = median(cpus) / (float64(rows) / 1e6)
	}
	for _, r := range m.Runs {
		var sum int64
		for _, v := range r.PeakRSSMiB {
			sum += v
		}
		m.TotalPeakMiB = max(m.TotalPeakMiB, sum)
	}
	if len(m.PeakRSSMiB) == 0 {
		m.PeakRSSMiB = nil
	}
	var shares []float64
	for _, r := range m.Runs {
		if s, ok := minShare(r.WorkerCPUSecs); ok {
			shares = append(shares, s)
		}
	}
	m.MinWorkerShare = median(shares)
}

// minShare is the smallest worker's share of the workers' total CPU, and
// whether there were two workers or more to share it.
func minShare(cpu map[string]float64) (float64, bool) {
	var total float64
	least := math.Inf(1)
	for _, v := range cpu {
		total += v
		least = min(least, v)
	}
	if len(cpu) < 2 || total <= 0 {
		return 0, false
	}
	return least / total, true
}

func printTable(w io.Writer, r *report) {
	fmt.Fprintf(w, "\n| table | mode | rows | median s | rows/s | MB/s | ratio to pipe | CPU s / 1M rows | peak RSS MiB (per process) | verified |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, m := range r.Results {
		ok := "yes"
		for _, run := range m.Runs {
			if !run.Verified {
				ok = "NO"
			}
		}
		rss := "-"
		if m.PeakRSSMiB != nil {
			rss = fmt.Sprintf("%v (total %d)", m.PeakRSSMiB, m.TotalPeakMiB)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.0f | %.1f | %.2f | %.2f | %s | %s |\n",
			m.Table, m.Mode, r.Rows[m.Table], m.MedianWallSecs, m.RowsPerSec, m.MBPerSec, m.RatioToPipe, m.CPUSecsPer1M, rss, ok)
	}
	for _, m := range r.Results {
		if len(m.Runs) > 0 && len(m.Runs[0].WorkerCPUSecs) > 1 {
			fmt.Fprintf(w, "\n%s %s: the less busy worker did %.0f%% of the workers' CPU (median of runs)", m.Table, m.Mode, 100*m.MinWorkerShare)
		}
	}
	fmt.Fprintln(w)
}

func writeJSON(path string, r *report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
