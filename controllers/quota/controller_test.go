package quota_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/quota"
)

// status.used follows creates and deletes of machines, volumes and other kinds, per name in
// spec.hard, and status.hard mirrors spec.hard.
func TestUsedFollowsObjects(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	startController(t, server, time.Second, nil)

	const ns = "team-a"
	client := server.Client
	_, err := client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: "small"},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hard := corev1.ResourceList{
		"count/machines.compute.ferrite.dev":              resource.MustParse("10"),
		"requests.cpu":                                    resource.MustParse("64"),
		"requests.memory":                                 resource.MustParse("256Gi"),
		"small.machineclass.compute.ferrite.dev/machines": resource.MustParse("5"),
		"requests.storage":                                resource.MustParse("1Ti"),
		"fast.volumeclass.storage.ferrite.dev/storage":    resource.MustParse("500Gi"),
		"count/networks.networking.ferrite.dev":           resource.MustParse("3"),
	}
	if _, err := client.CoreV1alpha1().ResourceQuotas(ns).Create(ctx, &corev1alpha1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: ns},
		Spec:       corev1alpha1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Quota admission refuses creates while the quota's status is not computed yet, as
	// Kubernetes does; so creates are retried for a while.
	create := func(what string, fn func() error) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
			err := fn()
			return err == nil, ignoreForbidden(err)
		})
		if err != nil {
			t.Fatalf("creating %s: %v", what, err)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		create(name, func() error {
			_, err := client.ComputeV1alpha1().Machines(ns).Create(ctx, &computev1alpha1.Machine{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec:       computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12"},
			}, metav1.CreateOptions{})
			return err
		})
	}
	for _, name := range []string{"data-1", "data-2"} {
		create(name, func() error {
			_, err := client.StorageV1alpha1().Volumes(ns).Create(ctx, &storagev1alpha1.Volume{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
					Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
			}, metav1.CreateOptions{})
			return err
		})
	}
	create("net", func() error {
		_, err := client.NetworkingV1alpha1().Networks(ns).Create(ctx, &networkingv1alpha1.Network{
			ObjectMeta: metav1.ObjectMeta{Name: "net", Namespace: ns}}, metav1.CreateOptions{})
		return err
	})
	expect := func(want map[corev1.ResourceName]string) {
		t.Helper()
		var last corev1.ResourceList
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
			q, err := client.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = q.Status.Used
			if len(q.Status.Hard) != len(hard) || len(q.Status.Used) != len(hard) {
				return false, nil
			}
			for name, v := range want {
				if got := q.Status.Used[name]; got.Cmp(resource.MustParse(v)) != 0 {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("status.used %v, want %v", last, want)
		}
	}
	expect(map[corev1.ResourceName]string{
		"count/machines.compute.ferrite.dev": "3", "requests.cpu": "6", "requests.memory": "12Gi",
		"small.machineclass.compute.ferrite.dev/machines": "3", "requests.storage": "20Gi",
		"fast.volumeclass.storage.ferrite.dev/storage": "20Gi", "count/networks.networking.ferrite.dev": "1",
	})
	if err := client.ComputeV1alpha1().Machines(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.StorageV1alpha1().Volumes(ns).Delete(ctx, "data-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[corev1.ResourceName]string{
		"count/machines.compute.ferrite.dev": "2", "requests.cpu": "4", "requests.memory": "8Gi",
		"requests.storage": "10Gi", "fast.volumeclass.storage.ferrite.dev/storage": "10Gi",
	})
}

func ignoreForbidden(err error) error {
	if apierrors.IsForbidden(err) {
		return nil
	}
	return err
}

// startController runs a manager with only the quota controller against server, lowering usage
// after grace; events go to recorder when it is not nil.
func startController(t *testing.T, server *testserver.Server, grace time.Duration, recorder events.EventRecorder) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	managerCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(managerCtx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	controller := &quota.Controller{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
		ResyncInterval: 2 * time.Second, ReleaseGrace: grace}
	if err := controller.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(managerCtx) }()
	t.Cleanup(func() { cancel(); <-done })
}
