package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// createQuota creates a quota and initialises its status as the quota controller would for an
// empty namespace.
func createQuota(t *testing.T, ns string, hard ...string) {
	t.Helper()
	ctx := testContext(t)
	quotas := server.Client.CoreV1alpha1().ResourceQuotas(ns)
	quota, err := quotas.Create(ctx, &corev1alpha1.ResourceQuota{ObjectMeta: objectMeta("quota"),
		Spec: corev1alpha1.ResourceQuotaSpec{Hard: quantities(hard...)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quota.Status.Hard = quota.Spec.Hard
	quota.Status.Used = quantities()
	if _, err := quotas.UpdateStatus(ctx, quota, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestQuotaAdmission(t *testing.T) {
	ctx := testContext(t)
	const ns = "quota"
	if _, err := server.Client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta: objectMeta("quota-2cpu"), Capabilities: quantities("cpu", "2", "memory", "4Gi")}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createQuota(t, ns, "requests.cpu", "5", "count/machines.compute.ferrite.dev", "10", "requests.storage", "10Gi",
		"quota-2cpu.machineclass.compute.ferrite.dev/machines", "3")

	machines := server.Client.ComputeV1alpha1().Machines(ns)
	newMachine := func(name string) *computev1alpha1.Machine {
		return &computev1alpha1.Machine{ObjectMeta: objectMeta(name), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("quota-2cpu")}}
	}
	for _, name := range []string{"a", "b"} {
		if _, err := machines.Create(ctx, newMachine(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s within quota: %v", name, err)
		}
	}
	// 2 + 2 CPUs used; a third 2-CPU machine would make 6 > 5.
	_, err := machines.Create(ctx, newMachine("c"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota quota: requests.cpu: requested 2, used 4, limited 5") {
		t.Fatalf("over quota: %v, want Forbidden naming requests.cpu", err)
	}
	if _, err := machines.Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused machine was stored: %v", err)
	}
	quota, err := server.Client.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := quota.Status.Used["requests.cpu"]; cpu.String() != "4" {
		t.Fatalf("charged cpu %s, want 4", cpu.String())
	}

	// Volumes are charged by storage; growing one is charged by the growth.
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	volume, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"), Spec: storagev1alpha1.VolumeSpec{
		VolumeClassRef: ref("fast"), Resources: quantities("storage", "6Gi")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volume.Spec.Resources = quantities("storage", "12Gi")
	if _, err := volumes.Update(ctx, volume, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("growing past quota: %v, want Forbidden", err)
	}
	volume.Spec.Resources = quantities("storage", "9Gi")
	if _, err := volumes.Update(ctx, volume, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("growing within quota: %v", err)
	}
}

// TestQuotaUnderConcurrency creates 30 volumes at once against a quota of 10: exactly 10 are
// admitted, however the requests interleave.
func TestQuotaUnderConcurrency(t *testing.T) {
	ctx := testContext(t)
	const ns = "quota-burst"
	createQuota(t, ns, "count/volumes.storage.ferrite.dev", "10")
	var admitted, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := server.Client.StorageV1alpha1().Volumes(ns).Create(ctx, &storagev1alpha1.Volume{
				ObjectMeta: objectMeta(fmt.Sprintf("v-%d", i)),
				Spec:       storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{})
			switch {
			case err == nil:
				admitted.Add(1)
			case apierrors.IsForbidden(err) || apierrors.IsTooManyRequests(err):
				refused.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	list, err := server.Client.StorageV1alpha1().Volumes(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if admitted.Load() != 10 || len(list.Items) != 10 {
		t.Fatalf("admitted %d, stored %d, refused %d; want exactly 10 stored", admitted.Load(), len(list.Items), refused.Load())
	}
}

// TestQuotaWithUnknownStatus refuses until the quota controller has computed usage.
func TestQuotaWithUnknownStatus(t *testing.T) {
	ctx := testContext(t)
	const ns = "quota-unknown"
	if _, err := server.Client.CoreV1alpha1().ResourceQuotas(ns).Create(ctx, &corev1alpha1.ResourceQuota{ObjectMeta: objectMeta("q"),
		Spec: corev1alpha1.ResourceQuotaSpec{Hard: quantities("count/networks.networking.ferrite.dev", "5")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := server.Client.NetworkingV1alpha1().Networks(ns).Create(ctx, networkNamed("n"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "status unknown for quota q") {
		t.Fatalf("create under an uncomputed quota: %v, want Forbidden naming the quota", err)
	}
}

// TestUnauthenticatedIsRefused checks that a request without credentials gets 401, while
// health checks stay open.
func TestUnauthenticatedIsRefused(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	for path, want := range map[string]int{
		"/apis/compute.ferrite.dev/v1alpha1/machines": http.StatusUnauthorized,
		"/apis":   http.StatusUnauthorized,
		"/readyz": http.StatusOK,
		"/livez":  http.StatusOK,
	} {
		response, err := client.Get(server.Config.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != want {
			t.Errorf("GET %s without credentials: %d, want %d", path, response.StatusCode, want)
		}
	}
}

// TestQuotaUpdateWhenClassIsGone: in a namespace whose quota limits CPU, a Machine whose class
// was deleted can still be updated (labels, power): the update does not change what it counts,
// so quota admission charges nothing and needs no class lookup.
func TestQuotaUpdateWhenClassIsGone(t *testing.T) {
	ctx := testContext(t)
	const ns = "quota-class-gone"
	classes := server.Client.ComputeV1alpha1().MachineClasses()
	if _, err := classes.Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta: objectMeta("quota-gone"), Capabilities: quantities("cpu", "2", "memory", "4Gi")}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createQuota(t, ns, "requests.cpu", "10")
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta("m"),
		Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("quota-gone")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Classes in use are protected by a finalizer; one deleted before that protection existed
	// (or forced) is gone all the same: delete it and drop the finalizer.
	if err := classes.Delete(ctx, "quota-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if class, err := classes.Get(ctx, "quota-gone", metav1.GetOptions{}); err == nil {
		class.Finalizers = nil
		if _, err := classes.Update(ctx, class, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	machine, err := machines.Get(ctx, "m", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	machine.Labels = map[string]string{"tier": "web"}
	if _, err := machines.Update(ctx, machine, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating a machine whose class is gone: %v", err)
	}
	// A new machine of the missing class cannot be charged its CPU: refused.
	_, err = machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta("n"),
		Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("quota-gone")}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("creating a machine of a missing class under a CPU quota: %v, want Forbidden", err)
	}
}

// TestQuotaRefusedCreateLeavesNoCharge: a create refused by validation is not charged.
func TestQuotaRefusedCreateLeavesNoCharge(t *testing.T) {
	ctx := testContext(t)
	const ns = "quota-refused"
	createQuota(t, ns, "count/volumes.storage.ferrite.dev", "5", "requests.storage", "10Gi")
	// No volume class: validation refuses it with a 422.
	_, err := server.Client.StorageV1alpha1().Volumes(ns).Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"),
		Spec: storagev1alpha1.VolumeSpec{Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("invalid volume: %v, want Invalid", err)
	}
	quota, err := server.Client.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, used := range quota.Status.Used {
		if !used.IsZero() {
			t.Errorf("a refused create charged %s %s", name, used.String())
		}
	}
}
