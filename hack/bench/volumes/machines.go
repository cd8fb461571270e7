package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// machineRound creates n Machines at once that boot the guest image, from a local disk or (boot
// from volume) from an ephemeral RBD volume made from the image, and measures create to
// Running; then deletes them and waits until they (and their volumes) are gone.
func (s *system) machineRound(ctx context.Context, kind string, n int, fromVolume bool) (result, error) {
	machines := s.ferrite.ComputeV1alpha1().Machines(benchNamespace)
	w, err := watchNow(ctx, func(ctx context.Context, o metav1.ListOptions) (metav1.ListInterface, error) {
		return machines.List(ctx, o)
	}, machines.Watch)
	if err != nil {
		return result{}, err
	}
	isRunning := func(obj any) (string, bool) {
		m, ok := obj.(*computev1alpha1.Machine)
		return m.GetName(), ok && m.Status.State == computev1alpha1.MachineStateRunning
	}
	name := func(i int) string { return fmt.Sprintf("%s-%d", kind, i) }
	res, err := runRound(ctx, w, n, n, isRunning, func(ctx context.Context, r *round, i int) error {
		m := &computev1alpha1.Machine{
			ObjectMeta: metav1.ObjectMeta{Name: name(i), Namespace: benchNamespace},
			Spec: computev1alpha1.MachineSpec{
				MachineClassRef: corev1.LocalObjectReference{Name: benchMachineClass},
				Power:           computev1alpha1.PowerOn,
			},
		}
		if fromVolume {
			m.Spec.Volumes = []computev1alpha1.MachineVolume{{Name: "root", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
				VolumeClassRef: corev1.LocalObjectReference{Name: benchVolumeClass},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s.opts.volumeSize)},
				Image:          s.pool.GuestImage,
			}}}
		} else {
			m.Spec.Image = s.pool.GuestImage
		}
		r.sent(m.Name)
		_, err := machines.Create(ctx, m, metav1.CreateOptions{})
		return err
	})
	for i := range n {
		_ = machines.Delete(ctx, name(i), metav1.DeleteOptions{})
	}
	derr := waitEmpty(ctx, func() (int, error) {
		ms, err := machines.List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		vs, err := s.ferrite.StorageV1alpha1().Volumes(benchNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		return len(ms.Items) + len(vs.Items), nil
	})
	if err == nil {
		err = derr
	}
	return res, err
}

// waitEmpty polls count until it is 0 or ctx ends.
func waitEmpty(ctx context.Context, count func() (int, error)) error {
	for {
		n, err := count()
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d objects left: %v", n, err)
		case <-time.After(time.Second):
		}
	}
}
