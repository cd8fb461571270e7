package quota_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/quota"
)

// TestQuotaUnderConcurrencyWithController sends bursts of concurrent creates against a small
// quota while the quota controller runs: each burst stores exactly the limit, and status.used
// ends equal to what is stored, also after deletes between the bursts. The controller recounts
// during the burst from a cache that lacks the objects just admitted; it must not write that
// lower count over the charges in flight.
func TestQuotaUnderConcurrencyWithController(t *testing.T) {
	server := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startController(t, server, 2*time.Second, nil)

	const ns, limit, burst = "quota-burst", 10, 40
	countVolumes := corev1.ResourceName("count/volumes.storage.ferrite.dev")
	createQuotaAndWait(ctx, t, server, ns, corev1.ResourceList{countVolumes: *resource.NewQuantity(limit, resource.DecimalSI)})
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	for round := range 3 {
		var admitted atomic.Int32
		var wg sync.WaitGroup
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := volumes.Create(ctx, &storagev1alpha1.Volume{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("v-%d-%d", round, i), Namespace: ns},
					Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
						Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}, metav1.CreateOptions{})
				switch {
				case err == nil:
					admitted.Add(1)
				case apierrors.IsForbidden(err) || apierrors.IsTooManyRequests(err):
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		list, err := volumes.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != limit {
			t.Fatalf("round %d: %d admitted, %d stored; want exactly %d stored", round, admitted.Load(), len(list.Items), limit)
		}
		waitForUsed(ctx, t, server, ns, countVolumes, limit)
		// Free half the quota for the next burst; used must come down to what is stored.
		for _, volume := range list.Items[:limit/2] {
			if err := volumes.Delete(ctx, volume.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitForUsed(ctx, t, server, ns, countVolumes, limit-limit/2)
	}
}

// TestUsageHeldWhenClassIsGone deletes the class of running machines: their CPU cannot be
// counted any more, so the controller keeps the last requests.cpu instead of counting 0, says so
// with an event, and counts normally again once those machines are gone.
func TestUsageHeldWhenClassIsGone(t *testing.T) {
	server := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recorder := events.NewFakeRecorder(1000)
	held := make(chan string, 1)
	go func() {
		for event := range recorder.Events {
			if strings.Contains(event, quota.ReasonUsageHeld) {
				select {
				case held <- event:
				default:
				}
			}
		}
	}()
	startController(t, server, time.Second, recorder)

	const ns = "class-gone"
	cpu := corev1.ResourceName("requests.cpu")
	if _, err := server.Client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: "doomed"},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createQuotaAndWait(ctx, t, server, ns, corev1.ResourceList{cpu: resource.MustParse("10")})
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	for _, name := range []string{"a", "b"} {
		if _, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "doomed"}, Image: "debian-12"}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitForUsed(ctx, t, server, ns, cpu, 4)
	// Classes in use are protected by a finalizer; one deleted before that protection existed
	// (or forced) is gone all the same: delete it and drop the finalizer.
	classes := server.Client.ComputeV1alpha1().MachineClasses()
	if err := classes.Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if class, err := classes.Get(ctx, "doomed", metav1.GetOptions{}); err == nil {
		class.Finalizers = nil
		if _, err := classes.Update(ctx, class, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("no UsageHeld event after the class of running machines was deleted")
	}
	q, err := server.Client.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used[cpu]; used.Cmp(resource.MustParse("4")) != 0 {
		t.Fatalf("requests.cpu %s after the class was deleted, want the last known 4", used.String())
	}
	for _, name := range []string{"a", "b"} {
		if err := machines.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitForUsed(ctx, t, server, ns, cpu, 0)
}

// createQuotaAndWait creates the quota "quota" and waits until the controller has computed its
// status (quota admission refuses creates until then).
func createQuotaAndWait(ctx context.Context, t *testing.T, server *testserver.Server, ns string, hard corev1.ResourceList) {
	t.Helper()
	quotas := server.Client.CoreV1alpha1().ResourceQuotas(ns)
	if _, err := quotas.Create(ctx, &corev1alpha1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: ns},
		Spec: corev1alpha1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := quotas.Get(ctx, "quota", metav1.GetOptions{})
		return err == nil && len(q.Status.Hard) == len(hard), err
	})
	if err != nil {
		t.Fatalf("quota status never computed: %v", err)
	}
}

// waitForUsed waits until the quota's status.used of name is want.
func waitForUsed(ctx context.Context, t *testing.T, server *testserver.Server, ns string, name corev1.ResourceName, want int64) {
	t.Helper()
	var last resource.Quantity
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := server.Client.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = q.Status.Used[name]
		return last.Cmp(*resource.NewQuantity(want, resource.DecimalSI)) == 0, nil
	})
	if err != nil {
		t.Fatalf("status.used[%s] is %s, want %d: %v", name, last.String(), want, err)
	}
}
