package claim_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

// server is shared by the tests of this package; each test works in its own namespace.
var server *testserver.Server

// runs numbers the namespaces, so that -count=N runs on the shared server do not collide.
var runs atomic.Int32

// namespace returns a namespace name of its own for a test run.
func namespace(prefix string) string { return fmt.Sprintf("%s-%d", prefix, runs.Add(1)) }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-claim-test-")
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

// startClaims runs a manager with the claim controllers and the ephemeral controllers (which
// create the objects claimed for ephemeral entries) until the test ends. It returns the
// recorder the controllers send events to.
func startClaims(t *testing.T) *events.FakeRecorder {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	recorder := events.NewFakeRecorder(1000)
	if err := controllermanager.AddEphemeral(ctx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	if err := controllermanager.AddClaims(ctx, mgr, recorder, o); err != nil {
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
	return recorder
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls condition until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitEvent waits for an event on recorder whose text contains every part.
func waitEvent(t *testing.T, recorder *events.FakeRecorder, parts ...string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-recorder.Events:
			matches := true
			for _, p := range parts {
				matches = matches && strings.Contains(e, p)
			}
			if matches {
				return
			}
		case <-timeout:
			t.Fatalf("no event with %q", parts)
		}
	}
}

func createVolume(t *testing.T, namespace, name string) {
	t.Helper()
	_, err := server.Client.StorageV1alpha1().Volumes(namespace).Create(context.Background(), &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// machineWithVolume is a machine attaching the existing Volume volume.
func machineWithVolume(name, volume string, finalizers ...string) *computev1alpha1.Machine {
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12",
			Volumes: []computev1alpha1.MachineVolume{{Name: "data", VolumeRef: &corev1.LocalObjectReference{Name: volume}}},
		},
	}
}

// volumeClaim returns the claim of a Volume, nil when unclaimed or missing.
func volumeClaim(t *testing.T, namespace, name string) *storagev1alpha1.ClaimReference {
	t.Helper()
	v, err := server.Client.StorageV1alpha1().Volumes(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.Spec.ClaimRef
}

// claimedCondition returns the machine's Claimed condition, nil when it has none.
func claimedCondition(t *testing.T, namespace, name string) *metav1.Condition {
	t.Helper()
	m, err := server.Client.ComputeV1alpha1().Machines(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(m.Status.Conditions, "Claimed")
}

// wantInvalid fails unless err is a 422 naming field whose message contains each part.
func wantInvalid(t *testing.T, err error, field string, parts ...string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422 on %s", err, field)
	}
	status := err.(apierrors.APIStatus).Status()
	for _, cause := range status.Details.Causes {
		if cause.Field != field {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(cause.Message, p) {
				t.Errorf("422 on %s does not say %q: %s", field, p, cause.Message)
			}
		}
		return
	}
	t.Fatalf("422 does not name %s: %v", field, err)
}
