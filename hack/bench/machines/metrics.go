package main

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"strings"
)

// terminatedWatchers reads apiserver_terminated_watchers_total for Machines from the
// apiserver's /metrics: watches the watch cache closed because their watcher did not keep up.
// The counter is absent until it is first incremented, which reads as 0.
func terminatedWatchers(ctx context.Context, e *env) (float64, error) {
	data, err := e.client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	return machineCounter(data, "apiserver_terminated_watchers_total"), nil
}

// machineCounter sums the samples of the named metric whose labels are those of Machines
// (group compute.ferrite.dev, resource machines) in a Prometheus text exposition.
func machineCounter(exposition []byte, name string) float64 {
	total := 0.0
	scanner := bufio.NewScanner(bytes.NewReader(exposition))
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		labels, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		end := strings.LastIndexByte(labels, '}')
		if end < 0 || !strings.Contains(labels[:end], `resource="machines"`) || !strings.Contains(labels[:end], `group="compute.ferrite.dev"`) {
			continue
		}
		fields := strings.Fields(labels[end+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			total += v
		}
	}
	return total
}
