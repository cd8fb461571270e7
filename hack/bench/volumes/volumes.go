package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// volumeRound creates n Volumes of the bench class (from image when not empty) with workers
// creates at once and measures create to Available; then deletes them and waits until they
// are gone.
func (s *system) volumeRound(ctx context.Context, kind string, n, workers int, image string) (result, error) {
	volumes := s.ferrite.StorageV1alpha1().Volumes(benchNamespace)
	list, err := volumes.List(ctx, metav1.ListOptions{})
	if err != nil {
		return result{}, err
	}
	w, err := volumes.Watch(ctx, listOptionsNow(list.ResourceVersion))
	if err != nil {
		return result{}, err
	}
	r := newRound()
	followed := make(chan error, 1)
	go func() {
		followed <- r.follow(ctx, w, n, func(obj any) (string, bool) {
			v, ok := obj.(*storagev1alpha1.Volume)
			return v.GetName(), ok && v.Status.State == storagev1alpha1.VolumeStateAvailable
		})
	}()
	name := func(i int) string { return fmt.Sprintf("%s-%d", kind, i) }
	created := load.Run(ctx, load.CPUMeter{}, n, workers, func(ctx context.Context, _, i int) error {
		v := &storagev1alpha1.Volume{
			ObjectMeta: metav1.ObjectMeta{Name: name(i), Namespace: benchNamespace},
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
	if created.Errors > 0 {
		return result{}, fmt.Errorf("%d creates failed, the first: %v", created.Errors, created.FirstErr)
	}
	err = <-followed
	res := r.result()
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
