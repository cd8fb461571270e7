package machine

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// sweepLoop runs Sweep every SweepInterval until ctx ends.
func (b *Broker) sweepLoop(ctx context.Context) {
	ticker := time.NewTicker(b.opts.SweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := b.Sweep(ctx); err != nil {
				log.Error(err, "sweeping half-created objects")
			}
		}
	}
}

// Sweep deletes the objects a create made whose Machine does not exist, older than SweepGrace:
// what a create cut short (a crash, a timeout never retried) or a deletion left behind. Both
// come from informers: no LIST per sweep.
func (b *Broker) Sweep(ctx context.Context) error {
	ns := b.opts.Namespace
	cutoff := time.Now().Add(-b.opts.SweepGrace)
	nics, err := b.nics.NetworkInterfaces(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	for _, nic := range nics {
		id := nic.Annotations[AnnotationID]
		// Only what this broker names: other brokers over the namespace use the ID label too.
		if id == "" || !strings.HasPrefix(nic.Name, MachineName(id)+"-") || nic.CreationTimestamp.After(cutoff) || nic.DeletionTimestamp != nil || b.machineExists(ctx, id) {
			continue
		}
		log.Info("deleting a half-created network interface", "networkInterface", nic.Name, "id", id)
		if err := b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Delete(ctx, nic.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if b.secrets == nil {
		return nil
	}
	for _, obj := range b.secrets.GetStore().List() {
		secret, ok := obj.(*corev1.Secret)
		if !ok {
			continue
		}
		id := secret.Annotations[AnnotationID]
		if id == "" || secret.Name != SecretName(id) || secret.CreationTimestamp.After(cutoff) || secret.DeletionTimestamp != nil || b.machineExists(ctx, id) {
			continue
		}
		log.Info("deleting a half-created user-data secret", "secret", secret.Name, "id", id)
		if err := b.opts.Secrets.CoreV1().Secrets(ns).Delete(ctx, secret.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// machineExists reports whether the Machine of runtime ID id exists: from the informer, then
// (for one it has not seen yet) by a GET. An error counts as existing, so nothing is deleted on
// doubt.
func (b *Broker) machineExists(ctx context.Context, id string) bool {
	_, err := b.cached(ctx, id)
	return !apierrors.IsNotFound(err)
}
