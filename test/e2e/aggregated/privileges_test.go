//go:build e2e

package aggregated

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// TestBindingAndClaimsArePrivileges checks, with the roles of config/rbac on a real
// kube-apiserver, that binding and claims are their own privileges: a tenant bound to edit
// cannot bind its machine to a pool nor claim a volume (403 on the subresources, 422 through the
// main resource), while ferrite-admin can bind by hand; and that a poollet identity protects a
// machine with its finalizer through the status subresource but cannot change the spec.
func TestBindingAndClaimsArePrivileges(t *testing.T) {
	ctx := testContext(t)
	kube, admin := clients(t, cluster.Config)
	const ns = "tenant-privileges"
	createNamespace(t, kube, ns)
	const tenantUser, poolletUser = "tenant-binder", "poollet-host-p"
	bindClusterRole(t, ns, "edit", tenantUser)
	_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: poolletUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ferrite-machinepoollet"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: poolletUser}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, tenant := clients(t, impersonating(tenantUser))
	_, poollet := clients(t, impersonating(poolletUser))

	pool, err := admin.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "host-p"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		_, err := tenant.ComputeV1alpha1().Machines(ns).Create(ctx, machine("vm"), metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatalf("tenant creating its machine: %v", err)
	}
	target := &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: "host-p"}}
	if _, err := tenant.ComputeV1alpha1().Machines(ns).Bind(ctx, "vm", target, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("tenant binding through machines/binding: %v, want 403", err)
	}
	if _, err := tenant.ComputeV1alpha1().Machines(ns).Patch(ctx, "vm", types.MergePatchType,
		[]byte(`{"spec":{"machinePoolRef":{"name":"host-p"}}}`), metav1.PatchOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("tenant setting spec.machinePoolRef: %v, want 422", err)
	}

	if _, err := tenant.StorageV1alpha1().Volumes(ns).Create(ctx, volume("disk"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	disk, err := tenant.StorageV1alpha1().Volumes(ns).Get(ctx, "disk", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	disk.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "vm", UID: "0a0a0a0a-0000-4000-8000-000000000000"}
	if _, err := tenant.StorageV1alpha1().Volumes(ns).UpdateClaim(ctx, "disk", disk, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("tenant writing volumes/claim: %v, want 403", err)
	}

	// The operator places the machine by hand.
	bound, err := admin.ComputeV1alpha1().Machines(ns).Bind(ctx, "vm", target, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := bound.Spec.MachinePoolRef; ref == nil || ref.UID != pool.UID {
		t.Fatalf("bound by the admin: %+v, want host-p with the pool's UID", ref)
	}

	// The poollet: its finalizer through status, no spec change.
	var vm *computev1alpha1.Machine
	if err := eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		vm, err = poollet.ComputeV1alpha1().Machines(ns).Get(ctx, "vm", metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatalf("poollet reading the machine: %v", err)
	}
	// Controllers write the machine's status meanwhile (the scheduler's condition): a poollet
	// retries a conflict on a fresh read.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if vm, err = poollet.ComputeV1alpha1().Machines(ns).Get(ctx, "vm", metav1.GetOptions{}); err != nil {
			return err
		}
		vm.Finalizers = append(vm.Finalizers, "compute.ferrite.dev/machinepoollet")
		vm.Status.State = computev1alpha1.MachineStatePending
		vm, err = poollet.ComputeV1alpha1().Machines(ns).UpdateStatus(ctx, vm, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatalf("poollet adding its finalizer through status: %v", err)
	}
	vm.Spec.Image = "changed-by-poollet"
	if _, err := poollet.ComputeV1alpha1().Machines(ns).Update(ctx, vm, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("poollet updating the spec: %v, want 403", err)
	}
	if err := tenant.ComputeV1alpha1().Machines(ns).Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	dying, err := admin.ComputeV1alpha1().Machines(ns).Get(ctx, "vm", metav1.GetOptions{})
	if err != nil || dying.DeletionTimestamp == nil {
		t.Fatalf("after delete: %v; want the machine held by the poollet's finalizer", err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dying, err := poollet.ComputeV1alpha1().Machines(ns).Get(ctx, "vm", metav1.GetOptions{})
		if err != nil {
			return err
		}
		dying.Finalizers = nil
		_, err = poollet.ComputeV1alpha1().Machines(ns).UpdateStatus(ctx, dying, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatalf("poollet removing its finalizer: %v", err)
	}
	if err := eventually(ctx, 10*time.Second, func(ctx context.Context) error {
		_, err := admin.ComputeV1alpha1().Machines(ns).Get(ctx, "vm", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("machine still there after the finalizer went: %v", err)
	}
}
