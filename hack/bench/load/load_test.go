package load

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var calls atomic.Int64
	seen := make([]atomic.Bool, 100)
	r := Run(context.Background(), CPUMeter{}, 100, 7, func(_ context.Context, worker, i int) error {
		calls.Add(1)
		if seen[i].Swap(true) {
			t.Errorf("operation %d run twice", i)
		}
		if worker < 0 || worker >= 7 {
			t.Errorf("worker %d out of range", worker)
		}
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		if i%10 == 3 {
			return errors.New("every tenth fails")
		}
		return nil
	})
	if calls.Load() != 100 || r.Ops != 100 || r.Errors != 10 || r.FirstErr == nil {
		t.Fatalf("calls %d, result %d ops, %d errors, first %v; want 100, 100, 10, an error", calls.Load(), r.Ops, r.Errors, r.FirstErr)
	}
	for i := 1; i < len(r.Latencies); i++ {
		if r.Latencies[i] < r.Latencies[i-1] {
			t.Fatalf("latencies not sorted at %d", i)
		}
	}
	if r.Percentile(100) != r.Latencies[99] || r.Percentile(50) != r.Latencies[49] {
		t.Errorf("percentiles: p50 %v p100 %v, latencies[49] %v [99] %v", r.Percentile(50), r.Percentile(100), r.Latencies[49], r.Latencies[99])
	}
	if r.PerSecond() <= 0 || r.CPU.Client < 0 {
		t.Errorf("rate %v, client CPU %v", r.PerSecond(), r.CPU.Client)
	}
	if got := (Result{Ops: 10, Errors: 2}).CPUPerThousand(0.004); got != 0.5 {
		t.Errorf("CPUPerThousand: %v, want 0.5 ms per operation", got)
	}
}
