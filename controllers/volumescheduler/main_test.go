package volumescheduler_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

// server is shared by the tests of this package; each test uses its own labels and classes.
var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-volumescheduler-test-")
	if err != nil {
		panic(err)
	}
	server, err = testserver.StartInDir(dir)
	if err != nil {
		panic(err)
	}
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startScheduler runs a manager with the volume scheduler until the test ends.
func startScheduler(t *testing.T, recorder events.EventRecorder) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.RetryInterval, o.HeartbeatGrace, o.SeveralManagersInProcess = 5*time.Second, time.Hour, true
	// Planted entries of volumes that never existed are dropped after this.
	o.LedgerMissingGrace = 2 * time.Second
	// A growth reserved by resize admission and never stored is given back after this.
	o.LedgerGrowthGrace = 2 * time.Second
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if recorder == nil {
		recorder = events.NewFakeRecorder(10000)
	}
	if err := controllermanager.AddVolumeScheduler(ctx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func createPool(t *testing.T, name string, labels map[string]string, allocatable map[string]string, taints []corev1.Taint) {
	t.Helper()
	ctx := context.Background()
	pool, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       storagev1alpha1.VolumePoolSpec{Taints: taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pool.Status.Allocatable = corev1.ResourceList{}
	for class, q := range allocatable {
		pool.Status.Allocatable[corev1.ResourceName(class)] = resource.MustParse(q)
	}
	pool.Status.LastHeartbeatTime = &now
	pool.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now}}
	if _, err := server.Client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createVolume(t *testing.T, namespace, name, class, size string, selector map[string]string) {
	t.Helper()
	_, err := server.Client.StorageV1alpha1().Volumes(namespace).Create(context.Background(), &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef:     corev1.LocalObjectReference{Name: class},
			VolumePoolSelector: selector,
			Resources:          corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func boundCounts(t *testing.T, namespace string) map[string]int {
	t.Helper()
	list, err := server.Client.StorageV1alpha1().Volumes(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, v := range list.Items {
		pool := ""
		if v.Spec.VolumePoolRef != nil {
			pool = v.Spec.VolumePoolRef.Name
		}
		counts[pool]++
	}
	return counts
}

func waitFor(t *testing.T, timeout time.Duration, what string, condition func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition()
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
