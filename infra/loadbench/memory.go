package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memory is one reading of a process's /proc/<pid>/status, in KiB.
type memory struct {
	// RSS (VmRSS) is what is resident now.
	RSS int64
	// HWM (VmHWM) is the most that was ever resident, since the process
	// started: the peak no sampling interval can miss.
	HWM int64
	// Anon (RssAnon) is the part of RSS that is the process's own: heap,
	// stacks, anything no file backs. The rest of RSS is mostly the pages of
	// its executable and libraries that are mapped, clean and shared with
	// the page cache: a Go binary of 35-45 MB has 20 MiB of them mapped
	// after start-up, and that, not the heap, is most of a Go service's RSS.
	// Zero on kernels before 4.5, which do not report it.
	Anon int64
}

// readMemory reads the resident memory of a process and its children
// (nginx's worker), added up.
func readMemory(pid int) (memory, error) {
	var total memory
	for i, p := range family(pid) {
		m, err := readOwnMemory(p)
		if err != nil && i == 0 {
			return memory{}, err
		}
		total.RSS += m.RSS
		total.HWM += m.HWM
		total.Anon += m.Anon
	}
	return total, nil
}

func readOwnMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	return parseStatus(bufio.NewScanner(f))
}

// parseStatus reads VmRSS, VmHWM and (where the kernel has it) RssAnon from
// the lines of a /proc status file.
func parseStatus(lines *bufio.Scanner) (memory, error) {
	var m memory
	found := 0
	for lines.Scan() {
		key, value, ok := strings.Cut(lines.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM" && key != "RssAnon") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("unexpected %s line %q", key, lines.Text())
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "VmRSS":
			m.RSS = n
			found++
		case "VmHWM":
			m.HWM = n
			found++
		case "RssAnon":
			m.Anon = n
		}
	}
	if err := lines.Err(); err != nil {
		return memory{}, err
	}
	if found != 2 {
		return memory{}, fmt.Errorf("VmRSS or VmHWM missing (a kernel thread, or a process that exited?)")
	}
	return m, nil
}

// snapshot reads every process's memory now.
func snapshot(pids map[string]int) map[string]memory {
	out := map[string]memory{}
	for name, pid := range pids {
		if m, err := readMemory(pid); err == nil {
			out[name] = m
		}
	}
	return out
}

// watcher samples resident memory while load runs and keeps each process's
// highest reading.
type watcher struct {
	mu   sync.Mutex
	peak map[string]int64
	stop chan struct{}
	done chan struct{}
}

// watch samples the processes pids names every interval until Stop.
func watch(pids func() map[string]int, every time.Duration) *watcher {
	w := &watcher{peak: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			w.observe(snapshot(pids()))
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *watcher) observe(readings map[string]memory) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, m := range readings {
		w.peak[name] = max(w.peak[name], m.RSS)
	}
}

// Stop ends sampling and returns the highest RSS seen per process, in KiB.
func (w *watcher) Stop() map[string]int64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int64, len(w.peak))
	for k, v := range w.peak {
		out[k] = v
	}
	return out
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
