package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux this runs on.
const clockTick = 10 * time.Millisecond

// selfName names the benchmark's own process in CPU accounts.
const selfName = "loadbench"

// readCPU returns the CPU time (user + system) a process and its children
// (nginx's worker) have used so far.
func readCPU(pid int) (time.Duration, error) {
	var total time.Duration
	for i, p := range family(pid) {
		d, err := readOwnCPU(p)
		if err != nil && i == 0 {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// family is pid and its descendants, as /proc lists them now.
func family(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && i < 64; i++ {
		lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, l := range lists {
			b, err := os.ReadFile(l)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if child, err := strconv.Atoi(f); err == nil {
					out = append(out, child)
				}
			}
		}
	}
	return out
}

func readOwnCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime from a /proc stat line. The command name,
// field 2, is in parentheses and may hold spaces, so fields are counted from
// the last ')'.
func parseStat(line string) (time.Duration, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed stat line %q", line)
	}
	fields := strings.Fields(line[end+1:])
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("short stat line %q", line)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime in %q", line)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuAccount adds up the CPU each process spent over some intervals.
type cpuAccount map[string]time.Duration

// cpuNow reads every process's CPU time, the benchmark's own included.
func cpuNow(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		if d, err := readCPU(pid); err == nil {
			out[name] = d
		}
	}
	// Its own alone: when it started the system, the runner is its child.
	if d, err := readOwnCPU(os.Getpid()); err == nil {
		out[selfName] = d
	}
	return out
}

// add records what each process spent between two readings. A process that
// restarted in between (its count went down) is left out.
func (a cpuAccount) add(before, after map[string]time.Duration) {
	for name, end := range after {
		if start, ok := before[name]; ok && end >= start {
			a[name] += end - start
		}
	}
}

func (a cpuAccount) total() time.Duration {
	var t time.Duration
	for _, d := range a {
		t += d
	}
	return t
}
