package capacity

import (
	"math"
	"testing"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

const gib = 1 << 30

func TestAllocatableAndCount(t *testing.T) {
	host := Resources{VCPUs: 32, MemoryBytes: 128 * gib, HugePages: map[uint64]uint64{gib: 8}}
	reserved := Resources{VCPUs: 2, MemoryBytes: 8 * gib, HugePages: map[uint64]uint64{gib: 2}}
	a := Allocatable(host, reserved, 4, 1.5)
	if a.VCPUs != 120 || a.MemoryBytes != 180*gib || a.HugePages[gib] != 6 {
		t.Fatalf("allocatable %+v, want 120 vCPUs, 180 GiB and 6 pages (never overcommitted)", a)
	}
	// A ratio below 1 means no overcommit, not undercommit.
	if b := Allocatable(host, reserved, 0.5, 0); b.VCPUs != 30 || b.MemoryBytes != 120*gib {
		t.Fatalf("allocatable with ratios below 1: %+v", b)
	}

	machine := OfMachine(&runtimev1alpha1.MachineResources{Vcpus: 8, MemoryBytes: 16 * gib})
	free := a.Sub(machine).Sub(machine)
	if free.VCPUs != 104 || free.MemoryBytes != 148*gib {
		t.Fatalf("free %+v", free)
	}
	if n := free.Count(machine); n != 9 { // memory: 148/16 = 9; vCPUs: 104/8 = 13
		t.Fatalf("count %d, want 9", n)
	}
	huge := OfMachine(&runtimev1alpha1.MachineResources{Vcpus: 2, MemoryBytes: 4 * gib, HugepageSizeBytes: gib})
	if huge.MemoryBytes != 0 || huge.HugePages[gib] != 4 {
		t.Fatalf("a huge-page machine holds %+v", huge)
	}
	if n := free.Count(huge); n != 1 {
		t.Fatalf("count of a 4-page machine in 6 pages: %d", n)
	}
	if free.Fits(OfMachine(&runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: gib, HugepageSizeBytes: 2 << 20})) {
		t.Fatal("a machine of a page size the host lacks fits")
	}
	if n := free.Count(Resources{}); n != math.MaxUint64 {
		t.Fatalf("count of nothing: %d", n)
	}
	// Sub never wraps around.
	if d := reserved.Sub(host); d.VCPUs != 0 || d.MemoryBytes != 0 || d.HugePages[gib] != 0 {
		t.Fatalf("reserved - host = %+v", d)
	}
}

func TestProto(t *testing.T) {
	r := Resources{VCPUs: 4, MemoryBytes: gib, HugePages: map[uint64]uint64{gib: 1}}
	h := r.Proto(2<<20, gib)
	if len(h.GetHugepages()) != 2 || h.GetHugepages()[0].GetPageSizeBytes() != 2<<20 || h.GetHugepages()[0].GetPages() != 0 ||
		h.GetHugepages()[1].GetPages() != 1 {
		t.Fatalf("proto %v: want both page sizes ascending", h)
	}
	back := FromHost(h)
	if back.VCPUs != 4 || back.MemoryBytes != gib || back.HugePages[gib] != 1 {
		t.Fatalf("round trip %+v", back)
	}
}
