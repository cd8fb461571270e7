package main

import "testing"

func TestMachineCounter(t *testing.T) {
	exposition := []byte(`# HELP apiserver_terminated_watchers_total [ALPHA] Counter of watchers closed due to unresponsiveness broken by resource type.
# TYPE apiserver_terminated_watchers_total counter
apiserver_terminated_watchers_total{group="compute.ferrite.dev",resource="machines"} 412
apiserver_terminated_watchers_total{group="compute.ferrite.dev",resource="machinepools"} 3
apiserver_terminated_watchers_total{group="storage.ferrite.dev",resource="volumes"} 7
apiserver_terminated_watchers_total_other{group="compute.ferrite.dev",resource="machines"} 9
`)
	if got := machineCounter(exposition, "apiserver_terminated_watchers_total"); got != 412 {
		t.Errorf("machineCounter = %v, want 412", got)
	}
	if got := machineCounter([]byte("# no samples yet\n"), "apiserver_terminated_watchers_total"); got != 0 {
		t.Errorf("machineCounter of an exposition without the metric = %v, want 0", got)
	}
}
