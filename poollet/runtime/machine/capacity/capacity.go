// Package capacity does the resource arithmetic of the machine runtime's Status call, so that every
// provider reports the same numbers: allocatable = (capacity - reserved) * overcommit ratio (huge
// pages are never overcommitted), free = allocatable - allocated, and a class fits free as many
// times as its scarcest resource allows.
package capacity

import (
	"maps"
	"math"
	"slices"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Resources is an amount of each host resource.
type Resources struct {
	// VCPUs is a number of virtual CPUs.
	VCPUs uint64
	// MemoryBytes is ordinary (not huge page) memory.
	MemoryBytes uint64
	// HugePages maps a page size in bytes to a number of pages.
	HugePages map[uint64]uint64
}

// FromHost converts a HostResources message; nil is zero.
func FromHost(h *runtimev1alpha1.HostResources) Resources {
	r := Resources{VCPUs: h.GetVcpus(), MemoryBytes: h.GetMemoryBytes()}
	for _, hp := range h.GetHugepages() {
		if r.HugePages == nil {
			r.HugePages = map[uint64]uint64{}
		}
		r.HugePages[hp.GetPageSizeBytes()] += hp.GetPages()
	}
	return r
}

// OfMachine is what a machine of these resources holds of the host: its vCPUs, and its memory
// either as ordinary memory or as huge pages of its page size.
func OfMachine(m *runtimev1alpha1.MachineResources) Resources {
	r := Resources{VCPUs: uint64(m.GetVcpus())}
	if size := m.GetHugepageSizeBytes(); size != 0 {
		r.HugePages = map[uint64]uint64{size: m.GetMemoryBytes() / size}
	} else {
		r.MemoryBytes = m.GetMemoryBytes()
	}
	return r
}

// Proto converts r into a HostResources message, huge pages ascending by page size. pageSizes
// adds entries (with what r has of them, possibly 0) for page sizes r lacks, so that reports list
// every page size the host has.
func (r Resources) Proto(pageSizes ...uint64) *runtimev1alpha1.HostResources {
	sizes := slices.Collect(maps.Keys(r.HugePages))
	for _, size := range pageSizes {
		if !slices.Contains(sizes, size) {
			sizes = append(sizes, size)
		}
	}
	slices.Sort(sizes)
	h := &runtimev1alpha1.HostResources{Vcpus: r.VCPUs, MemoryBytes: r.MemoryBytes}
	for _, size := range sizes {
		h.Hugepages = append(h.Hugepages, &runtimev1alpha1.HugePages{PageSizeBytes: size, Pages: r.HugePages[size]})
	}
	return h
}

// PageSizes returns the huge page sizes r has an entry for, ascending.
func (r Resources) PageSizes() []uint64 {
	return slices.Sorted(maps.Keys(r.HugePages))
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	sum := Resources{VCPUs: r.VCPUs + o.VCPUs, MemoryBytes: r.MemoryBytes + o.MemoryBytes}
	for _, hp := range []map[uint64]uint64{r.HugePages, o.HugePages} {
		for size, pages := range hp {
			if sum.HugePages == nil {
				sum.HugePages = map[uint64]uint64{}
			}
			sum.HugePages[size] += pages
		}
	}
	return sum
}

// Sub returns r - o, each resource at least 0.
func (r Resources) Sub(o Resources) Resources {
	diff := Resources{VCPUs: sub(r.VCPUs, o.VCPUs), MemoryBytes: sub(r.MemoryBytes, o.MemoryBytes)}
	for size, pages := range r.HugePages {
		if diff.HugePages == nil {
			diff.HugePages = map[uint64]uint64{}
		}
		diff.HugePages[size] = sub(pages, o.HugePages[size])
	}
	return diff
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Allocatable returns what machines may hold in total: (capacity - reserved) scaled by the
// overcommit ratios for vCPUs and memory; huge pages are not overcommitted. A ratio below 1 is
// taken as 1.
func Allocatable(capacity, reserved Resources, cpuRatio, memoryRatio float64) Resources {
	a := capacity.Sub(reserved)
	a.VCPUs = scale(a.VCPUs, cpuRatio)
	a.MemoryBytes = scale(a.MemoryBytes, memoryRatio)
	return a
}

func scale(v uint64, ratio float64) uint64 {
	if ratio <= 1 || math.IsNaN(ratio) {
		return v
	}
	scaled := math.Floor(float64(v) * ratio)
	if scaled >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(scaled)
}

// Count returns how many times need fits into r, limited by each resource need asks for (so
// math.MaxUint64 when need asks for nothing).
func (r Resources) Count(need Resources) uint64 {
	count := uint64(math.MaxUint64)
	limit := func(have, want uint64) {
		if want > 0 {
			count = min(count, have/want)
		}
	}
	limit(r.VCPUs, need.VCPUs)
	limit(r.MemoryBytes, need.MemoryBytes)
	for size, pages := range need.HugePages {
		limit(r.HugePages[size], pages)
	}
	return count
}

// Fits reports whether need fits into r at least once.
func (r Resources) Fits(need Resources) bool {
	return r.Count(need) >= 1
}
