package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// heapFigures are the Go runtime's memory figures of the apiserver right after a garbage
// collection, from its /metrics (go_memstats_*), in bytes.
type heapFigures struct {
	// live is the heap in use right after the collection: the live objects.
	live float64
	// inUse counts the heap spans in use (live objects plus their fragmentation); idle the
	// spans kept for reuse, of which released were returned to the system.
	inUse, idle, released float64
	// stacks are goroutine stacks; sys everything the runtime took from the system.
	stacks, sys float64
}

// readHeap makes the apiserver collect its garbage (by reading a heap profile with gc=1,
// written to profilePath unless empty) and reads its memory figures.
func readHeap(ctx context.Context, e *env, profilePath string) (heapFigures, error) {
	var h heapFigures
	profile, err := e.proto.Discovery().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("gc", "1").DoRaw(ctx)
	if err != nil {
		return h, fmt.Errorf("heap profile: %w", err)
	}
	if profilePath != "" {
		if err := os.WriteFile(profilePath, profile, 0o644); err != nil {
			return h, err
		}
	}
	data, err := e.proto.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return h, err
	}
	m := gauges(bytes.NewReader(data), "go_memstats_")
	h.live, h.inUse, h.idle, h.released = m["go_memstats_heap_alloc_bytes"], m["go_memstats_heap_inuse_bytes"], m["go_memstats_heap_idle_bytes"], m["go_memstats_heap_released_bytes"]
	h.stacks, h.sys = m["go_memstats_stack_inuse_bytes"], m["go_memstats_sys_bytes"]
	return h, nil
}

// gauges reads the unlabelled samples whose names start with prefix from a Prometheus text
// exposition.
func gauges(r io.Reader, prefix string) map[string]float64 {
	out := map[string]float64{}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 2 || !strings.HasPrefix(fields[0], prefix) {
			continue
		}
		if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
			out[fields[0]] = v
		}
	}
	return out
}

// printHeap prints the heap figures next to the resident memory.
func printHeap(out io.Writer, h heapFigures, rss int64, stored int64) {
	m := func(b float64) string { return mib(int64(b)) }
	fmt.Fprintf(out, "  after a forced GC: live heap %s (%.0f bytes per Machine), heap spans in use %s, idle %s (released %s), stacks %s, runtime total %s; RSS before the GC %s\n",
		m(h.live), h.live/float64(max(1, stored)), m(h.inUse), m(h.idle), m(h.released), m(h.stacks), m(h.sys), mib(rss))
}
