package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// poolLabel carries a Machine's pool as a label too, for the comparison with watchers on a
// label selector, which the watch cache does not index. Every configuration sets it, so the
// writes are the same in all of them.
const poolLabel = "bench.ferrite.dev/pool"

// poolName is the name of the i-th MachinePool.
func poolName(i int) string { return fmt.Sprintf("pool-%04d", i) }

// createPools creates MachinePools poolName(0..n-1); existing ones are kept.
func createPools(ctx context.Context, e *env, n int) error {
	r := load.Run(ctx, e.meter, n, 16, func(ctx context.Context, _, i int) error {
		_, err := e.client.ComputeV1alpha1().MachinePools().Create(ctx,
			&computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: poolName(i)}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating MachinePool %s: %w", poolName(i), err)
		}
		return nil
	})
	return r.FirstErr
}

// writesPerMachine is the number of writes, hence watch events, of one Machine: its create,
// its bind and its status updates.
func writesPerMachine(statusUpdates int) int { return 2 + statusUpdates }

// writeMachines makes n Machines in namespace go through what the control plane does to
// them: machine i is created unbound, bound to poolName(i % pools) through the binding
// subresource, as the scheduler does, and has its status written statusUpdates times, as its
// machinepoollet does (Pending, then Running with its address). Each worker takes whole
// Machines (worker w writes through writers[w % len(writers)]); a result's operation is one
// Machine.
func writeMachines(ctx context.Context, writers []versioned.Interface, namespace string, n, pools, statusUpdates, workers int) load.Result {
	return load.Run(ctx, load.CPUMeter{}, n, workers, func(ctx context.Context, worker, i int) error {
		machines := writers[worker%len(writers)].ComputeV1alpha1().Machines(namespace)
		name, pool := fmt.Sprintf("machine-%05d", i), poolName(i%pools)
		m := load.NewMachine(name)
		m.Labels[poolLabel] = pool
		if _, err := machines.Create(ctx, m, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Machine %s/%s: %w", namespace, name, err)
		}
		m, err := machines.Bind(ctx, name, &computev1alpha1.MachineBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Target: corev1.LocalObjectReference{Name: pool},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("binding Machine %s/%s to %s: %w", namespace, name, pool, err)
		}
		for u := range statusUpdates {
			m.Status.ObservedGeneration = m.Generation
			m.Status.MachineID = fmt.Sprintf("bench-%s-%05d", namespace, i)
			m.Status.State = computev1alpha1.MachineStatePending
			if u == statusUpdates-1 {
				m.Status.State = computev1alpha1.MachineStateRunning
				m.Status.NetworkInterfaces = []computev1alpha1.MachineNetworkInterfaceStatus{{
					Name: "primary", State: computev1alpha1.AttachmentAttached,
					IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)},
				}}
			}
			if m, err = machines.UpdateStatus(ctx, m, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("updating the status of Machine %s/%s: %w", namespace, name, err)
			}
		}
		return nil
	})
}

// deleteMachines deletes every Machine of namespace.
func deleteMachines(ctx context.Context, e *env, namespace string) error {
	return e.client.ComputeV1alpha1().Machines(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}
