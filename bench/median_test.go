package main

import (
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestSummarizeRatioInputs(t *testing.T) {
	m := modeResult{Runs: []runResult{
		{WallSecs: 2, CPUSecs: 1, PeakRSSMiB: map[string]int64{"a": 100, "b": 50}},
		{WallSecs: 1, CPUSecs: 3, PeakRSSMiB: map[string]int64{"a": 120, "b": 10}},
		{WallSecs: 4, CPUSecs: 2, PeakRSSMiB: map[string]int64{"a": 90, "b": 70}},
	}}
	summarize(&m, 2_000_000, 200)
	if m.MedianWallSecs != 2 || m.RowsPerSec != 1_000_000 || m.MBPerSec != 100 {
		t.Errorf("median %v rows/s %v MB/s %v", m.MedianWallSecs, m.RowsPerSec, m.MBPerSec)
	}
	if m.CPUSecsPer1M != 1 {
		t.Errorf("cpu per 1M = %v, want 1", m.CPUSecsPer1M)
	}
	if m.PeakRSSMiB["a"] != 120 || m.PeakRSSMiB["b"] != 70 || m.TotalPeakMiB != 160 {
		t.Errorf("rss %v total %d", m.PeakRSSMiB, m.TotalPeakMiB)
	}
}

func TestMinWorkerShare(t *testing.T) {
	m := modeResult{Runs: []runResult{
		{WallSecs: 1, WorkerCPUSecs: map[string]float64{"worker-1": 3, "worker-2": 1}},
		{WallSecs: 1, WorkerCPUSecs: map[string]float64{"worker-1": 1, "worker-2": 1}},
		{WallSecs: 1, WorkerCPUSecs: map[string]float64{"worker-1": 4, "worker-2": 0}},
	}}
	summarize(&m, 1, 1)
	if m.MinWorkerShare != 0.25 {
		t.Errorf("min worker share = %v, want 0.25 (the median of 0.25, 0.5, 0)", m.MinWorkerShare)
	}
	if _, ok := minShare(map[string]float64{"worker-1": 2}); ok {
		t.Error("one worker has no share to report")
	}
	if _, ok := minShare(map[string]float64{"worker-1": 0, "worker-2": 0}); ok {
		t.Error("idle workers have no share to report")
	}
}

func TestPrintTableNamesAnIdleWorker(t *testing.T) {
	m := modeResult{Table: "t", Mode: "distributed", Runs: []runResult{
		{WallSecs: 1, Verified: true, WorkerCPUSecs: map[string]float64{"worker-1": 2, "worker-2": 0}},
	}}
	summarize(&m, 1, 1)
	var b strings.Builder
	printTable(&b, &report{Results: []modeResult{m}, Rows: map[string]int64{"t": 1}})
	if want := "t distributed: the less busy worker did 0% of the workers' CPU"; !strings.Contains(b.String(), want) {
		t.Errorf("table does not say %q:\n%s", want, b.String())
	}
}
