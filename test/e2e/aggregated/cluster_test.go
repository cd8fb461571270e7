//go:build e2e

package aggregated

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// The tests in this file need kube-controller-manager: role aggregation, namespace deletion
// and garbage collection are its controllers, reaching Ferrite's APIs through discovery.

func volume(name string) *storagev1alpha1.Volume {
	return &storagev1alpha1.Volume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1alpha1.VolumeSpec{
		VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
		Resources:      corev1.ResourceList{"storage": resource.MustParse("1Gi")},
	}}
}

// impersonating is the admin configuration acting as user, who is in no group but
// system:authenticated: what RBAC grants that user alone.
func impersonating(user string) *rest.Config {
	config := rest.CopyConfig(cluster.Config)
	config.Impersonate = rest.ImpersonationConfig{UserName: user}
	return config
}

// bindClusterRole binds the ClusterRole role to user in namespace.
func bindClusterRole(t *testing.T, namespace, role, user string) {
	t.Helper()
	kube, _ := clients(t, cluster.Config)
	_, err := kube.RbacV1().RoleBindings(namespace).Create(testContext(t), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// eventually retries f until it returns nil or timeout passes, and returns its last error.
// Authorization decisions are cached for a few seconds, so a new binding takes a moment.
func eventually(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		err := f(ctx)
		if ctx.Err() == nil || last == nil {
			// An error caused by the deadline itself says less than the one before it.
			last = err
		}
		return err == nil, nil
	})
	if err != nil && last == nil {
		return err
	}
	return last
}

// TestEditRoleGrantsFerrite binds a tenant to the built-in edit ClusterRole in one namespace:
// through the rules aggregated into edit, the tenant creates Machines and Volumes there, and
// nothing in another namespace.
func TestEditRoleGrantsFerrite(t *testing.T) {
	ctx := testContext(t)
	kube, _ := clients(t, cluster.Config)
	createNamespace(t, kube, "tenant-edit")
	createNamespace(t, kube, "tenant-other")
	const user = "tenant-editor"
	bindClusterRole(t, "tenant-edit", "edit", user)
	_, tenant := clients(t, impersonating(user))

	err := eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		_, err := tenant.ComputeV1alpha1().Machines("tenant-edit").Create(ctx, machine("mine"), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("edit-bound tenant creating a Machine in its namespace: %v", err)
	}
	if _, err := tenant.StorageV1alpha1().Volumes("tenant-edit").Create(ctx, volume("mine"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("edit-bound tenant creating a Volume in its namespace: %v", err)
	}
	if _, err := tenant.ComputeV1alpha1().Machines("tenant-edit").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("edit-bound tenant listing Machines in its namespace: %v", err)
	}
	if _, err := tenant.ComputeV1alpha1().Machines("tenant-other").Create(ctx, machine("theirs"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("edit-bound tenant creating a Machine in another namespace: %v, want 403", err)
	}
	if _, err := tenant.StorageV1alpha1().Volumes("tenant-other").Create(ctx, volume("theirs"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("edit-bound tenant creating a Volume in another namespace: %v, want 403", err)
	}
}

// TestViewRoleReadsFerrite binds a tenant to the built-in view ClusterRole: it lists Ferrite
// objects in that namespace and cannot create them.
func TestViewRoleReadsFerrite(t *testing.T) {
	ctx := testContext(t)
	kube, admin := clients(t, cluster.Config)
	createNamespace(t, kube, "tenant-view")
	if _, err := admin.ComputeV1alpha1().Machines("tenant-view").Create(ctx, machine("shown"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const user = "tenant-viewer"
	bindClusterRole(t, "tenant-view", "view", user)
	_, tenant := clients(t, impersonating(user))

	var list *computev1alpha1.MachineList
	err := eventually(ctx, 30*time.Second, func(ctx context.Context) (err error) {
		list, err = tenant.ComputeV1alpha1().Machines("tenant-view").List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("view-bound tenant listing Machines: %v %v", err, list)
	}
	if _, err := tenant.StorageV1alpha1().Volumes("tenant-view").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("view-bound tenant listing Volumes: %v", err)
	}
	if _, err := tenant.ComputeV1alpha1().Machines("tenant-view").Create(ctx, machine("denied"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("view-bound tenant creating a Machine: %v, want 403", err)
	}
	if _, err := tenant.StorageV1alpha1().Volumes("tenant-view").Create(ctx, volume("denied"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("view-bound tenant creating a Volume: %v, want 403", err)
	}
}

// TestNamespaceDeletionRemovesFerriteObjects deletes a namespace holding Machines, Volumes and
// a Network: kube-controller-manager's namespace controller finds Ferrite's resources through
// discovery and deletes them, the namespace is finalized, and the objects are gone.
func TestNamespaceDeletionRemovesFerriteObjects(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	const namespace = "doomed"
	createNamespace(t, kube, namespace)
	for i := range 3 {
		if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, machine(fmt.Sprintf("m%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ferrite.StorageV1alpha1().Volumes(namespace).Create(ctx, volume(fmt.Sprintf("v%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	network := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}}
	if _, err := ferrite.NetworkingV1alpha1().Networks(namespace).Create(ctx, network, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("namespace still %s: %v", ns.Status.Phase, ns.Status.Conditions)
	})
	if err != nil {
		t.Fatalf("namespace deletion did not complete: %v", err)
	}
	expectNoneLeft(ctx, t, ferrite, namespace)
}

// expectNoneLeft checks that no Machine, Volume or Network of namespace is stored.
func expectNoneLeft(ctx context.Context, t *testing.T, ferrite versioned.Interface, namespace string) {
	t.Helper()
	machines, err := ferrite.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(machines.Items) != 0 {
		t.Errorf("machines left in %s: %v %v", namespace, err, machines)
	}
	volumes, err := ferrite.StorageV1alpha1().Volumes(namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(volumes.Items) != 0 {
		t.Errorf("volumes left in %s: %v %v", namespace, err, volumes)
	}
	networks, err := ferrite.NetworkingV1alpha1().Networks(namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(networks.Items) != 0 {
		t.Errorf("networks left in %s: %v %v", namespace, err, networks)
	}
}

// TestOwnerReferenceGarbageCollection deletes owners and waits for their dependents to be
// collected: a Volume owned by a Machine (both served by Ferrite) and a Machine owned by a
// ConfigMap (owner in kube-apiserver, dependent in Ferrite).
func TestOwnerReferenceGarbageCollection(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	const namespace = "gc"
	createNamespace(t, kube, namespace)

	owner, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, machine("owner"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dependent := volume("owned-by-machine")
	dependent.OwnerReferences = []metav1.OwnerReference{{APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine", Name: owner.Name, UID: owner.UID}}
	if _, err := ferrite.StorageV1alpha1().Volumes(namespace).Create(ctx, dependent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	configMap, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ownedMachine := machine("owned-by-configmap")
	ownedMachine.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: configMap.Name, UID: configMap.UID}}
	if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, ownedMachine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The control: a dependent whose owner lives on is kept.
	liveOwner, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, machine("live-owner"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept := volume("owned-by-live-machine")
	kept.OwnerReferences = []metav1.OwnerReference{{APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine", Name: liveOwner.Name, UID: liveOwner.UID}}
	if _, err := ferrite.StorageV1alpha1().Volumes(namespace).Create(ctx, kept, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := ferrite.ComputeV1alpha1().Machines(namespace).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().ConfigMaps(namespace).Delete(ctx, configMap.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		if _, err := ferrite.StorageV1alpha1().Volumes(namespace).Get(ctx, dependent.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume %s owned by the deleted Machine: %v", dependent.Name, err)
		}
		if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(ctx, ownedMachine.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("machine %s owned by the deleted ConfigMap: %v", ownedMachine.Name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("not garbage-collected: %v", err)
	}
	if _, err := ferrite.StorageV1alpha1().Volumes(namespace).Get(ctx, kept.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("volume %s, whose owner exists, was collected too: %v", kept.Name, err)
	}
}
