package apiserver

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2"
)

// DefaultGCPercent is the garbage collector's target percentage when neither GOGC nor
// --gc-percent says otherwise. Measured with bench-api (docs/performance.md, issue 15): 200
// takes 10 to 14% less apiserver CPU per create than Go's default of 100 (garbage collection
// fell from 15% to 7% of the profile), for about 26% more resident memory; 400 saves no more
// CPU and adds another 40 to 50% of memory.
const DefaultGCPercent = 200

// memoryLimitFraction is the share of the memory the process may use (its cgroup's limit, or
// the host's memory) that becomes the soft memory limit when --memory-limit is not given: the
// collector works harder as the heap approaches it instead of growing by the GC percentage,
// and the rest is left for memory the Go runtime does not count (stacks of C code, page
// cache of the process).
const memoryLimitFraction = 0.9

// GCOptions are the Go garbage collector settings ferrite-apiserver applies at start. The
// environment always wins: GOGC and GOMEMLIMIT, when set, are left to the Go runtime.
type GCOptions struct {
	// Percent is the GC percentage (as GOGC): a collection starts when the heap has grown by
	// this much since the last one. Negative turns the percentage off, leaving only the
	// memory limit.
	Percent int
	// MemoryLimit is the soft memory limit (as GOMEMLIMIT): a quantity such as 4Gi, "none",
	// or empty for memoryLimitFraction of the cgroup's memory limit, or of the host's memory
	// without one.
	MemoryLimit string
}

// NewGCOptions returns Ferrite's defaults.
func NewGCOptions() GCOptions { return GCOptions{Percent: DefaultGCPercent} }

// AddFlags adds --gc-percent and --memory-limit to fs.
func (o *GCOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Percent, "gc-percent", o.Percent, "Go garbage collector target percentage (as GOGC; negative: off, only --memory-limit collects). Ignored when the GOGC environment variable is set.")
	fs.StringVar(&o.MemoryLimit, "memory-limit", o.MemoryLimit, `Go soft memory limit (as GOMEMLIMIT), a quantity such as 4Gi, or "none". Empty: 90% of the cgroup's memory limit, or of the host's memory without one. Ignored when the GOMEMLIMIT environment variable is set.`)
}

// Validate checks --memory-limit.
func (o *GCOptions) Validate() []error {
	if _, err := o.memoryLimit(); err != nil {
		return []error{err}
	}
	return nil
}

// memoryLimit returns the limit --memory-limit names: -1 for "none", 0 for empty (derive one).
func (o *GCOptions) memoryLimit() (int64, error) {
	switch o.MemoryLimit {
	case "":
		return 0, nil
	case "none":
		return -1, nil
	}
	q, err := resource.ParseQuantity(o.MemoryLimit)
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("--memory-limit %q: want a positive quantity such as 4Gi, or \"none\"", o.MemoryLimit)
	}
	return q.Value(), nil
}

// GCSettings is what Apply sets; a field is nil when the runtime keeps its own setting.
type GCSettings struct {
	// Percent is the GC percentage set, nil when GOGC is in the environment.
	Percent *int
	// MemoryLimit is the soft memory limit in bytes set, nil when GOMEMLIMIT is in the
	// environment, "none" was asked for, or no limit could be derived.
	MemoryLimit *int64
}

// Settings decides what Apply sets, given the environment (getenv) and the memory the process
// may use in bytes (available, 0 when unknown).
func (o *GCOptions) Settings(getenv func(string) string, available func() int64) (GCSettings, error) {
	var s GCSettings
	if getenv("GOGC") == "" {
		percent := o.Percent
		s.Percent = &percent
	}
	if getenv("GOMEMLIMIT") != "" {
		return s, nil
	}
	limit, err := o.memoryLimit()
	if err != nil {
		return s, err
	}
	if limit == 0 {
		limit = int64(float64(available()) * memoryLimitFraction)
	}
	if limit > 0 {
		s.MemoryLimit = &limit
	}
	return s, nil
}

// Apply sets the garbage collector of this process as Settings decides from the process's
// environment and memory, and logs what it set. Call it once, at the start of the binary:
// it changes the whole process.
func (o *GCOptions) Apply() error {
	s, err := o.Settings(os.Getenv, func() int64 { return AvailableMemory("/") })
	if err != nil {
		return err
	}
	percent, limit := "GOGC from the environment", "GOMEMLIMIT from the environment or none"
	if s.Percent != nil {
		debug.SetGCPercent(*s.Percent)
		percent = strconv.Itoa(*s.Percent)
	}
	if s.MemoryLimit != nil {
		debug.SetMemoryLimit(*s.MemoryLimit)
		limit = resource.NewQuantity(*s.MemoryLimit, resource.BinarySI).String()
	}
	klog.InfoS("Garbage collector", "gcPercent", percent, "memoryLimit", limit)
	return nil
}

// AvailableMemory returns the memory in bytes this process may use: the smaller of its memory
// cgroup's limit (cgroup v2 or v1) and the host's memory, read below root ("/" on a real
// system); 0 when neither can be read. Limits of parent cgroups are not looked at.
func AvailableMemory(root string) int64 {
	host := hostMemory(root)
	limit := cgroupMemoryLimit(root)
	switch {
	case limit > 0 && (host == 0 || limit < host):
		return limit
	default:
		return host
	}
}

// hostMemory reads MemTotal from /proc/meminfo, 0 when it cannot.
func hostMemory(root string) int64 {
	f, err := os.Open(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

// noCgroupLimit is the value from which a cgroup memory limit counts as none: cgroup v1
// writes "no limit" as the largest page-aligned int64.
const noCgroupLimit = 1 << 62

// cgroupMemoryLimit reads the limit of the process's memory cgroup, 0 when there is none or
// it cannot be read. It looks at the cgroup's own directory, then at the root of the
// hierarchy (inside a container the cgroup namespace shows the container's cgroup as "/").
func cgroupMemoryLimit(root string) int64 {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0
	}
	var candidates []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// hierarchy-ID:controllers:path; v2 is "0::path".
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			candidates = append(candidates, filepath.Join(root, "sys/fs/cgroup", parts[2], "memory.max"),
				filepath.Join(root, "sys/fs/cgroup/memory.max"))
		case hasController(parts[1], "memory"):
			candidates = append(candidates, filepath.Join(root, "sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"),
				filepath.Join(root, "sys/fs/cgroup/memory/memory.limit_in_bytes"))
		}
	}
	for _, path := range candidates {
		value, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		text := strings.TrimSpace(string(value))
		if text == "max" {
			return 0
		}
		limit, err := strconv.ParseInt(text, 10, 64)
		if err != nil || limit <= 0 || limit >= noCgroupLimit {
			return 0
		}
		return limit
	}
	return 0
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}
