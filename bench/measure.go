package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is what one timed command cost.
type usage struct {
	Wall    time.Duration
	CPU     time.Duration // user + system of the command and its reaped children
	MaxRSS  int64         // bytes, the largest single process
	Stdout  []byte
	Stderr  []byte
	ExitErr error
}

// timed runs cmd to completion and reports its wall time, CPU and peak RSS
// from wait4's rusage (which covers reaped descendants).
func timed(cmd *exec.Cmd) usage {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(start), Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitErr: err}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			u.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			u.MaxRSS = ru.Maxrss * 1024
		}
	}
	return u
}

// procStats reads a live process's CPU time and peak RSS (VmHWM) from /proc.
func procStats(pid int) (cpu time.Duration, hwm int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is wrapped in parentheses.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	cpu = time.Duration(ut+st) * time.Second / hz

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			hwm = kb * 1024
		}
	}
	return cpu, hwm, nil
}
