package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// tree writes files (path -> content) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    Limits
		wantErr bool
	}{
		{"v2 container", map[string]string{"proc": "0::/\n", "fs/cgroup.controllers": "cpu memory", "fs/cpu.max": "150000 100000\n", "fs/memory.max": "536870912\n"},
			Limits{CPUs: 1.5, MemoryBytes: 512 << 20}, false},
		{"v2 no limits", map[string]string{"proc": "0::/\n", "fs/cgroup.controllers": "cpu memory", "fs/cpu.max": "max 100000\n", "fs/memory.max": "max\n"},
			Limits{}, false},
		{"v2 nested, parent tighter", map[string]string{"proc": "0::/pod/c1\n", "fs/cgroup.controllers": "cpu memory",
			"fs/pod/cpu.max": "100000 100000", "fs/pod/memory.max": "1073741824", "fs/pod/c1/cpu.max": "400000 100000", "fs/pod/c1/memory.max": "max"},
			Limits{CPUs: 1, MemoryBytes: 1 << 30}, false},
		{"v1", map[string]string{"proc": "4:memory:/docker/x\n3:cpu,cpuacct:/docker/x\n", "fs/cpu/cpu.cfs_quota_us": "50000\n", "fs/cpu/cpu.cfs_period_us": "100000\n",
			"fs/memory/memory.limit_in_bytes": "268435456\n"}, Limits{CPUs: 0.5, MemoryBytes: 256 << 20}, false},
		{"v1 unlimited", map[string]string{"proc": "", "fs/cpu/cpu.cfs_quota_us": "-1", "fs/cpu/cpu.cfs_period_us": "100000",
			"fs/memory/memory.limit_in_bytes": "9223372036854771712"}, Limits{}, false},
		{"no cgroup files", map[string]string{"proc": "0::/\n"}, Limits{}, false},
		{"malformed cpu.max", map[string]string{"proc": "0::/\n", "fs/cgroup.controllers": "", "fs/cpu.max": "lots"}, Limits{}, true},
		{"malformed memory.max", map[string]string{"proc": "0::/\n", "fs/cgroup.controllers": "", "fs/memory.max": "-5"}, Limits{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tree(t, tt.files)
			if err := os.MkdirAll(filepath.Join(root, "fs"), 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := Read(filepath.Join(root, "fs"), filepath.Join(root, "proc"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Read error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		name       string
		l          Limits
		numCPU     int
		wantSlots  int
		wantMemLim int64
	}{
		{"no limits: 2 per node core", Limits{}, 8, 16, 0},
		{"cpu quota, not node cores", Limits{CPUs: 1.5}, 8, 4, 0},
		{"manifest pod: 2 GiB, 2 CPUs", Limits{CPUs: 2, MemoryBytes: 2 << 30}, 8, 4, 2 << 30 / 10 * 9},
		{"small memory: slots still from CPU", Limits{CPUs: 2, MemoryBytes: 256 << 20}, 8, 4, 256 << 20 / 10 * 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots, lim := Size(tt.l, tt.numCPU)
			if slots != tt.wantSlots || lim != tt.wantMemLim {
				t.Errorf("Size = %d slots, GOMEMLIMIT %d; want %d, %d", slots, lim, tt.wantSlots, tt.wantMemLim)
			}
		})
	}
}

func TestGuestBudget(t *testing.T) {
	const guestCap = 512 << 20
	for _, tt := range []struct {
		mem, budget, guest int64
	}{
		{0, 0, guestCap},
		{2 << 30, 2<<30 - baseReserve, guestCap},
		{512 << 20, 256 << 20, 128 << 20}, // one stream's two guests fit
		{256 << 20, 1, 1 << 20},           // too small: see MinMemory
	} {
		l := Limits{MemoryBytes: tt.mem}
		if got := GuestBudget(l); got != tt.budget {
			t.Errorf("GuestBudget(%d) = %d, want %d", tt.mem, got, tt.budget)
		}
		if got := GuestMemory(l, guestCap); got != tt.guest {
			t.Errorf("GuestMemory(%d) = %d, want %d", tt.mem, got, tt.guest)
		}
	}
}
