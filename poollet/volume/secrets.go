package volume

import (
	"bytes"
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Secret keys.
const (
	// SecretKeyKey is the access Secret's key holding the volume's credential (for Ceph, the
	// cephx key of a user that can open this volume only).
	SecretKeyKey = "key"
	// SecretKeyPassphrase is the passphrase Secret's key holding the LUKS passphrase.
	SecretKeyPassphrase = "passphrase"
)

// AccessSecretName is the name of a Volume's access Secret, in the Volume's namespace and owned
// by it: the credentials of the runtime volume's access, which the tenant may read (they open
// this volume only).
func AccessSecretName(volumeName string) string { return volumeName + "-access" }

// PassphraseSecretName is the name of an encrypted Volume's passphrase Secret in the key
// namespace, which tenants cannot read.
func PassphraseSecretName(uid types.UID) string { return "volume-" + string(uid) }

// accessData is the data of the access Secret: every runtime secret but the passphrase.
func accessData(rv *runtimev1alpha1.Volume) map[string][]byte {
	data := map[string][]byte{}
	for k, val := range rv.GetStatus().GetAccess().GetSecrets() {
		if k != SecretKeyPassphrase {
			data[k] = val
		}
	}
	return data
}

// ensureSecrets writes the access Secret and, for an encrypted volume, the passphrase Secret
// of the available runtime volume rv, before status.access names them. The runtime returns
// its secrets on every create and list, so a lost Secret is restored.
func (p *Poollet) ensureSecrets(ctx context.Context, v *storagev1alpha1.Volume, rv *runtimev1alpha1.Volume) error {
	labels := map[string]string{LabelVolumeUID: string(v.UID), LabelVolumeNamespace: v.Namespace, LabelVolumeName: v.Name}
	if data := accessData(rv); len(data) > 0 {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: v.Namespace, Name: AccessSecretName(v.Name), Labels: labels,
			// Garbage-collected with the Volume if the poollet is gone; no blockOwnerDeletion, so
			// the poollet needs no write on volumes/finalizers.
			OwnerReferences: []metav1.OwnerReference{{APIVersion: storagev1alpha1.SchemeGroupVersion.String(), Kind: "Volume", Name: v.Name, UID: v.UID}},
		}, Type: corev1.SecretTypeOpaque, Data: data}
		if err := p.putSecret(ctx, secret); err != nil {
			return fmt.Errorf("writing access secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
	}
	if passphrase, ok := rv.GetStatus().GetAccess().GetSecrets()[SecretKeyPassphrase]; ok {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: p.KeyNamespace, Name: PassphraseSecretName(v.UID), Labels: labels,
		}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{SecretKeyPassphrase: passphrase}}
		if err := p.putSecret(ctx, secret); err != nil {
			return fmt.Errorf("writing passphrase secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
	}
	return nil
}

// putSecret creates secret, or updates the existing one when its data, labels or owners differ
// (a Secret left by an earlier Volume of the same name is taken over).
func (p *Poollet) putSecret(ctx context.Context, secret *corev1.Secret) error {
	current := &corev1.Secret{}
	err := p.Secrets.Get(ctx, client.ObjectKeyFromObject(secret), current)
	if apierrors.IsNotFound(err) {
		return p.Secrets.Create(ctx, secret)
	}
	if err != nil {
		return err
	}
	if maps.EqualFunc(current.Data, secret.Data, bytes.Equal) && maps.Equal(current.Labels, secret.Labels) && sameOwners(current.OwnerReferences, secret.OwnerReferences) {
		return nil
	}
	current.Data, current.Labels, current.OwnerReferences = secret.Data, secret.Labels, secret.OwnerReferences
	return p.Secrets.Update(ctx, current)
}

// deleteSecrets deletes the Secrets of the Volume namespace/name with uid: the access Secret
// (only when it is this Volume's) and the passphrase Secret.
func (p *Poollet) deleteSecrets(ctx context.Context, namespace, name string, uid types.UID) error {
	access := &corev1.Secret{}
	err := p.Secrets.Get(ctx, types.NamespacedName{Namespace: namespace, Name: AccessSecretName(name)}, access)
	switch {
	case err == nil && access.Labels[LabelVolumeUID] == string(uid):
		if err := p.Secrets.Delete(ctx, access, client.Preconditions{UID: &access.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	passphrase := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.KeyNamespace, Name: PassphraseSecretName(uid)}}
	if err := p.Secrets.Delete(ctx, passphrase); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func sameOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID {
			return false
		}
	}
	return true
}
