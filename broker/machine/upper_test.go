package machine_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
)

// An upper cluster whose unchanged machinepoollet has the broker as its runtime: an upper
// Machine bound to the upper pool runs in the lower cluster and its Running state passes up, and
// so do the lower Machine's Events (here the lower runtime's Created, which the lower poollet
// recorded); a pool added below grows the upper pool; power off passes down; deleting it
// removes the lower Machine.
func TestUpperMachineRunsBelow(t *testing.T) {
	e := newEnv(t)
	upper := testserver.Start(t)
	ctx := context.Background()
	createClass(t, upper)
	pool := "upper-" + e.ns
	recorder := &poollettest.Recorder{}
	startPoolletRecording(t, upper, pool, nil, 0, nil, e.endpoint, recorder)
	waitFor(t, "the upper pool's allocatable from the broker", func() bool {
		p, err := upper.Client.ComputeV1alpha1().MachinePools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil {
			return false
		}
		q := p.Status.Allocatable[corev1.ResourceName(class)]
		return q.Value() == 4
	})
	// A pool added below is upper capacity without any change of the upper pool's objects: the
	// poollet reads the broker's Status again every StatusInterval.
	startPoollet(t, lowerServer, e.ns+"-b", e.labels, 3, nil, "")
	waitFor(t, "the upper pool's allocatable grown by the lower pool added", func() bool {
		p, err := upper.Client.ComputeV1alpha1().MachinePools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil {
			return false
		}
		q := p.Status.Allocatable[corev1.ResourceName(class)]
		return q.Value() == 7
	})

	machines := upper.Client.ComputeV1alpha1().Machines("tenant")
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: class},
			Power: computev1alpha1.PowerOn, Image: "ghcr.io/ferrite-dev/os:1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := machines.Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: pool}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state := func() computev1alpha1.MachineState {
		m, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m.Status.State
	}
	waitFor(t, "the upper Machine running", func() bool { return state() == computev1alpha1.MachineStateRunning })
	lower := e.lowerMachines(string(m.UID))
	if len(lower) != 1 {
		t.Fatalf("%d lower Machines for the upper one, want 1", len(lower))
	}
	waitFor(t, "the lower runtime's Created event on the upper Machine", func() bool {
		return recorder.Has("tenant/vm Normal Created: created machine " + string(lower[0].UID))
	})

	if _, err := machines.Patch(ctx, "vm", types.MergePatchType, []byte(`{"spec":{"power":"Off"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upper Machine shut down", func() bool { return state() == computev1alpha1.MachineStateShutdown })

	if err := machines.Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upper Machine gone", func() bool {
		_, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	waitFor(t, "the lower Machine gone", func() bool { return len(e.lowerMachines(string(m.UID))) == 0 })
}
