package libvirt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// Capacity: the host's raw resources from libvirt (hardware threads, memory) and sysfs (huge page
// pools), and what the provider's machines hold; poollet/runtime/machine/capacity does the
// arithmetic.

// hostResources reads the host's raw resources: its hardware threads, its memory outside the
// huge page pools, and its huge page pools.
func (p *Provider) hostResources() (capacity.Resources, error) {
	lv, err := p.conn.get()
	if err != nil {
		return capacity.Resources{}, err
	}
	info, err := lv.GetNodeInfo()
	if err != nil {
		return capacity.Resources{}, grpcError("reading the host's resources", err)
	}
	memKiB := info.Memory
	if stats, err := lv.GetMemoryStats(-1, 0); err == nil && stats.TotalSet {
		memKiB = stats.Total
	}
	pages, err := hugePages(p.opts.HugePagesDir)
	if err != nil {
		return capacity.Resources{}, status.Errorf(codes.Internal, "reading the host's huge pages: %v", err)
	}
	r := capacity.Resources{VCPUs: uint64(info.Cpus), MemoryBytes: memKiB << 10}
	// The kernel's total memory includes the huge page pools; machines get those as pages.
	for size, n := range pages {
		r.MemoryBytes -= min(r.MemoryBytes, size*n)
	}
	if len(pages) > 0 {
		r.HugePages = pages
	}
	return r, nil
}

// hugePages reads the huge page pools (page size in bytes to pages) from dir
// (/sys/kernel/mm/hugepages: one hugepages-<size>kB directory per size with nr_hugepages).
func hugePages(dir string) (map[uint64]uint64, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pages := map[uint64]uint64{}
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		size, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "nr_hugepages"))
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		pages[size<<10] = n
	}
	return pages, nil
}

func (p *Provider) allocatableLocked(host capacity.Resources) capacity.Resources {
	return capacity.Allocatable(host, p.opts.Reserved, p.opts.CPUOvercommitRatio, p.opts.MemoryOvercommitRatio)
}

// allocatedLocked sums what every machine holds: all that exist, stopped and terminating ones
// and creates in progress included.
func (p *Provider) allocatedLocked() capacity.Resources {
	var sum capacity.Resources
	for _, m := range p.machines {
		sum = sum.Add(capacity.OfMachine(m.spec.GetResources()))
	}
	return sum
}

// Status reports the host's resources and the room left for each class asked about.
func (p *Provider) Status(_ context.Context, req *runtimev1alpha1.StatusRequest) (*runtimev1alpha1.StatusResponse, error) {
	for i, c := range req.GetClasses() {
		if c.GetName() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "classes[%d].name: required", i)
		}
		if err := validation.Resources(fmt.Sprintf("classes[%d].resources", i), c.GetResources()); err != nil {
			return nil, err
		}
	}
	if err := p.usable(); err != nil {
		return nil, err
	}
	host, err := p.hostResources()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	allocatable, allocated := p.allocatableLocked(host), p.allocatedLocked()
	sizes := host.PageSizes()
	free := allocatable.Sub(allocated)
	resp := &runtimev1alpha1.StatusResponse{
		Capacity:     host.Proto(sizes...),
		Reserved:     p.opts.Reserved.Proto(sizes...),
		Overcommit:   &runtimev1alpha1.Overcommit{CpuRatio: p.opts.CPUOvercommitRatio, MemoryRatio: p.opts.MemoryOvercommitRatio},
		Allocatable:  allocatable.Proto(sizes...),
		Allocated:    allocated.Proto(sizes...),
		MachineCount: uint32(len(p.machines)),
		Revision:     p.history.Revision(),
	}
	for _, c := range req.GetClasses() {
		resp.Classes = append(resp.Classes, &runtimev1alpha1.ClassAvailability{
			Name:      c.GetName(),
			Available: free.Count(capacity.OfMachine(c.GetResources())),
		})
	}
	return resp, nil
}
