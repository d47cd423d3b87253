package cpuset

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Allowed returns how many CPUs the calling thread may run on.
func Allowed() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("cpuset: read affinity: %w", err)
	}
	return set.Count(), nil
}

// Confine restricts every thread of the process to the first n of the
// CPUs the calling thread may run on, and returns how many it kept (n, or
// fewer when fewer are allowed). Threads the process starts later inherit
// the set from the thread that starts them. It changes affinity only:
// GOMAXPROCS is the caller's to fix, since the Go runtime may follow the
// narrower set down when it was never set.
func Confine(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("cpuset: confine to %d CPUs", n)
	}
	var cur, want unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cur); err != nil {
		return 0, fmt.Errorf("cpuset: read affinity: %w", err)
	}
	want.Zero()
	kept := 0
	for cpu := 0; kept < n && cpu < len(cur)*64; cpu++ {
		if cur.IsSet(cpu) {
			want.Set(cpu)
			kept++
		}
	}
	// A thread started while the first pass ran may have inherited the old
	// set; a pass that finds every thread confined ends it.
	for range 5 {
		done, err := confineThreads(&want)
		if err != nil || done {
			return kept, err
		}
	}
	return kept, errors.New("cpuset: threads kept appearing with another affinity")
}

// confineThreads sets want on every thread of the process, and reports
// whether every one already had it.
func confineThreads(want *unix.CPUSet) (bool, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, fmt.Errorf("cpuset: list threads: %w", err)
	}
	done := true
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		var have unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &have); err == nil && have == *want {
			continue
		}
		done = false
		if err := unix.SchedSetaffinity(tid, want); err != nil && !errors.Is(err, unix.ESRCH) {
			return false, fmt.Errorf("cpuset: set affinity of thread %d: %w", tid, err)
		}
	}
	return done, nil
}
