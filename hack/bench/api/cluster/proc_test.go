package cluster

import (
	"os"
	"testing"
)

func TestProcFigures(t *testing.T) {
	// Burn a little CPU so that the counters are above zero.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	_ = x
	cpu, err := CPUSeconds(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Errorf("CPUSeconds of this process: %v, %v", cpu, err)
	}
	rss, err := ResidentBytes(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("ResidentBytes of this process: %d, %v", rss, err)
	}
	if _, err := CPUSeconds(-1); err == nil {
		t.Errorf("CPUSeconds of no process: no error")
	}
}
