package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// procMemory is a process's resident memory from /proc/PID/status, in KiB.
type procMemory struct {
	// rss is VmRSS (now), hwm is VmHWM (the peak so far).
	rss, hwm int64
	err      error
}

func (m procMemory) String() string {
	if m.err != nil {
		return "? (" + m.err.Error() + ")"
	}
	return fmt.Sprintf("%.1f / %.1f", float64(m.rss)/1024, float64(m.hwm)/1024)
}

// memorySample is the poollet's and the provider's memory at one moment.
type memorySample struct {
	when              string
	poollet, provider procMemory
}

func sample(when string, pool *localcluster.Pool) memorySample {
	return memorySample{when: when, poollet: readProcMemory(pool.PoolletPID()), provider: readProcMemory(pool.ProviderPID())}
}

func readProcMemory(pid int) procMemory {
	if pid == 0 {
		return procMemory{err: fmt.Errorf("not running")}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{err: err}
	}
	return parseProcStatus(data)
}

// parseProcStatus reads VmRSS and VmHWM ("VmRSS:   12345 kB") from a /proc/PID/status.
func parseProcStatus(data []byte) procMemory {
	var m procMemory
	found := 0
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			m.rss = n
		} else {
			m.hwm = n
		}
		found++
	}
	if found != 2 {
		m.err = fmt.Errorf("no VmRSS and VmHWM in /proc/PID/status")
	}
	return m
}
