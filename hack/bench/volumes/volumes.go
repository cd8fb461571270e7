package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// volumeRound creates n Volumes of the bench class (from image when not empty) with workers
// creates at once and measures create to Available; then deletes them and waits until they
// are gone.
func (s *system) volumeRound(ctx context.Context, kind string, n, workers int, image string) (result, error) {
	volumes := s.ferrite.StorageV1alpha1().Volumes(benchNamespace)
	w, err := watchNow(ctx, func(ctx context.Context, o metav1.ListOptions) (metav1.ListInterface, error) {
		return volumes.List(ctx, o)
	}, volumes.Watch)
	if err != nil {
		return result{}, err
	}
	isAvailable := func(obj any) (string, bool) {
		v, ok := obj.(*storagev1alpha1.Volume)
		return v.GetName(), ok && v.Status.State == storagev1alpha1.VolumeStateAvailable
	}
	res, err := runRound(ctx, w, n, workers, isAvailable, func(ctx context.Context, r *round, i int) error {
		v := &storagev1alpha1.Volume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", kind, i), Namespace: benchNamespace},
			Spec: storagev1alpha1.VolumeSpec{
				VolumeClassRef: corev1.LocalObjectReference{Name: benchVolumeClass},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s.opts.volumeSize)},
				Image:          image,
			},
		}
		r.sent(v.Name)
		_, err := volumes.Create(ctx, v, metav1.CreateOptions{})
		return err
	})
	if derr := s.deleteAll(ctx, kind, n); derr != nil && err == nil {
		err = derr
	}
	return res, err
}

// deleteAll deletes the round's Volumes and waits until they are gone (their images removed).
func (s *system) deleteAll(ctx context.Context, kind string, n int) error {
	volumes := s.ferrite.StorageV1alpha1().Volumes(benchNamespace)
	for i := range n {
		_ = volumes.Delete(ctx, fmt.Sprintf("%s-%d", kind, i), metav1.DeleteOptions{})
	}
	return waitEmpty(ctx, func() (int, error) {
		list, err := volumes.List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		return len(list.Items), nil
	})
}
