package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits are a cgroup's limits; a zero field means no limit.
type Limits struct {
	// CPUs is the CPU quota in cores (cpu.max 200000 100000 = 2).
	CPUs float64
	// MemoryBytes is the memory limit (memory.max).
	MemoryBytes int64
}

// unlimitedV1 is above any real v1 memory.limit_in_bytes: v1 reports "no
// limit" as a page-rounded 2^63-1.
const unlimitedV1 = 1 << 62

// Self reads the limits of the calling process's cgroup under /sys/fs/cgroup.
func Self() (Limits, error) {
	return Read("/sys/fs/cgroup", "/proc/self/cgroup")
}

// Read reads the limits of the cgroup that procCgroup (a /proc/<pid>/cgroup
// file) names, under the hierarchy mounted at root. For cgroup v2 it reads
// cpu.max and memory.max in the process's cgroup and each ancestor, keeping
// the tightest; for v1 cpu/cpu.cfs_quota_us, cpu/cpu.cfs_period_us and
// memory/memory.limit_in_bytes. No cgroup files at all is no limit, not an
// error; a malformed file is an error.
func Read(root, procCgroup string) (Limits, error) {
	v2path, v1cpu, v1mem := "/", "/", "/"
	if b, err := os.ReadFile(procCgroup); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2path = parts[2]
			case hasController(parts[1], "cpu"):
				v1cpu = parts[2]
			case hasController(parts[1], "memory"):
				v1mem = parts[2]
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return readV2(root, v2path)
	}
	return readV1(root, v1cpu, v1mem)
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readV2 walks from the process's cgroup up to root, keeping the tightest
// limits. Inside a container with its own cgroup namespace the path is "/".
func readV2(root, path string) (Limits, error) {
	var l Limits
	for dir := filepath.Clean("/" + path); ; dir = filepath.Dir(dir) {
		full := filepath.Join(root, dir)
		if b, err := os.ReadFile(filepath.Join(full, "cpu.max")); err == nil {
			cpus, err := parseCPUMax(string(b))
			if err != nil {
				return Limits{}, fmt.Errorf("%s: %w", filepath.Join(full, "cpu.max"), err)
			}
			if cpus > 0 && (l.CPUs == 0 || cpus < l.CPUs) {
				l.CPUs = cpus
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Limits{}, err
		}
		if b, err := os.ReadFile(filepath.Join(full, "memory.max")); err == nil {
			mem, err := parseBytes(string(b), "max")
			if err != nil {
				return Limits{}, fmt.Errorf("%s: %w", filepath.Join(full, "memory.max"), err)
			}
			if mem > 0 && (l.MemoryBytes == 0 || mem < l.MemoryBytes) {
				l.MemoryBytes = mem
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Limits{}, err
		}
		if dir == "/" {
			return l, nil
		}
	}
}

// parseCPUMax parses cpu.max: "max 100000" (none) or "<quota> <period>".
func parseCPUMax(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("cpu.max %q: want \"<quota>|max [<period>]\"", strings.TrimSpace(s))
	}
	if f[0] == "max" {
		return 0, nil
	}
	period := "100000"
	if len(f) == 2 {
		period = f[1]
	}
	return quota(f[0], period)
}

func quota(q, p string) (float64, error) {
	qv, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cpu quota %q: %w", q, err)
	}
	pv, err := strconv.ParseInt(p, 10, 64)
	if err != nil || pv <= 0 {
		return 0, fmt.Errorf("cpu period %q: want a positive integer", p)
	}
	if qv <= 0 {
		return 0, nil // v1's -1: no quota
	}
	return float64(qv) / float64(pv), nil
}

// parseBytes parses a memory limit; none names "no limit".
func parseBytes(s, none string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == none {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory limit %q: %w", s, err)
	}
	if v >= unlimitedV1 || v > math.MaxInt64 {
		return 0, nil
	}
	return int64(v), nil
}

// readV1 reads the v1 cpu and memory controllers. Inside a container the
// controller's own mount is the container's cgroup, so the path named in
// /proc/self/cgroup is tried first, then the controller's root.
func readV1(root, cpuPath, memPath string) (Limits, error) {
	var l Limits
	read := func(ctrl, path, file string) (string, bool, error) {
		for _, dir := range []string{filepath.Join(root, ctrl, path), filepath.Join(root, ctrl)} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err == nil {
				return string(b), true, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", false, err
			}
		}
		return "", false, nil
	}
	q, okQ, err := read("cpu", cpuPath, "cpu.cfs_quota_us")
	if err != nil {
		return Limits{}, err
	}
	p, okP, err := read("cpu", cpuPath, "cpu.cfs_period_us")
	if err != nil {
		return Limits{}, err
	}
	if okQ && okP {
		if l.CPUs, err = quota(strings.TrimSpace(q), strings.TrimSpace(p)); err != nil {
			return Limits{}, err
		}
	}
	m, ok, err := read("memory", memPath, "memory.limit_in_bytes")
	if err != nil {
		return Limits{}, err
	}
	if ok {
		if l.MemoryBytes, err = parseBytes(m, ""); err != nil {
			return Limits{}, err
		}
	}
	return l, nil
}
