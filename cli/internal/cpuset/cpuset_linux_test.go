package cpuset

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConfineEveryThread starts threads, confines the process to one CPU,
// and checks every thread's affinity, those started before and after.
func TestConfineEveryThread(t *testing.T) {
	n, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	defer restore(t, before)

	// Threads locked and parked, so the process has several.
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-release
		})
	}
	kept, err := Confine(1)
	if err != nil || kept != 1 {
		t.Fatalf("Confine(1) = %d, %v; want 1 (%d CPUs allowed)", kept, err, n)
	}
	close(release)
	wg.Wait()
	// A thread started now inherits the confined set.
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != 1 {
			t.Errorf("a thread started after Confine may run on %d CPUs (%v), want 1", set.Count(), err)
		}
		close(done)
	}()
	<-done
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		status, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(status), "\n") {
			if list, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.ContainsAny(strings.TrimSpace(list), ",-") {
				t.Errorf("thread %s may run on CPUs %s, want one", task.Name(), strings.TrimSpace(list))
			}
		}
	}
}

func TestConfineRefusesZero(t *testing.T) {
	if _, err := Confine(0); err == nil {
		t.Error("Confine(0) succeeded")
	}
}

// restore gives every thread its affinity back, for the tests that follow.
func restore(t *testing.T, set unix.CPUSet) {
	t.Helper()
	if _, err := confineThreads(&set); err != nil {
		t.Error(err)
	}
	if _, err := confineThreads(&set); err != nil {
		t.Error(err)
	}
}
