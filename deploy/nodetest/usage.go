package nodetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Usage is a process's CPU and memory over a window, read from /proc: the agent pod's
// container is a process of this machine.
type Usage struct {
	PID int
	// CPUCores is CPU time over wall time during the window.
	CPUCores float64
	// AnonRSS is the anonymous resident memory (the heap and stacks, RssAnon) at the end,
	// in bytes; file-backed pages of the executable are not counted.
	AnonRSS, RSS int64
}

func (u Usage) String() string {
	return fmt.Sprintf("pid %d: %.3f cores, anonymous RSS %.1f MiB (RSS %.1f MiB)",
		u.PID, u.CPUCores, float64(u.AnonRSS)/(1<<20), float64(u.RSS)/(1<<20))
}

// FindProcess returns the pid of the one process whose command line starts with exe and
// contains every one of args.
func FindProcess(exe string, args ...string) (int, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var found []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		parts := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if parts[0] != exe {
			continue
		}
		ok := true
		for _, a := range args {
			if !strings.Contains(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), a) {
				ok = false
			}
		}
		if ok {
			pid, _ := strconv.Atoi(filepath.Base(d))
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%d processes %s %v: %v", len(found), exe, args, found)
	}
	return found[0], nil
}

// MeasureUsage samples a process's CPU time over window and its memory at the end.
func MeasureUsage(pid int, window time.Duration) (Usage, error) {
	u := Usage{PID: pid}
	c0, err := cpuTicks(pid)
	if err != nil {
		return u, err
	}
	start := time.Now()
	time.Sleep(window)
	c1, err := cpuTicks(pid)
	if err != nil {
		return u, err
	}
	// USER_HZ is 100 on Linux.
	u.CPUCores = float64(c1-c0) / 100 / time.Since(start).Seconds()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			u.AnonRSS = kb << 10
		case "VmRSS:":
			u.RSS = kb << 10
		}
	}
	return u, nil
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its closing ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime, nil
}
