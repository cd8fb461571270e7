package networkprotection_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/networkprotection"
)

// startController runs a manager with the network protection controller until the test ends.
func startController(t *testing.T, server *testserver.Server, recorder events.EventRecorder) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := controllermanager.AddNetworkProtection(ctx, mgr, recorder, o); err != nil {
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

func nic(name, network string) *networkingv1alpha1.NetworkInterface {
	return &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: network}}}
}

// waitForEvent returns the first recorded event that contains every one of words.
func waitForEvent(t *testing.T, recorder *events.FakeRecorder, words ...string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case event := <-recorder.Events:
			if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(event, w) }) {
				return event
			}
		case <-timeout:
			t.Fatalf("no event with %q within 30s", words)
		}
	}
}

// TestDeletionWaitsForNetworkInterfaces deletes a Network that two NetworkInterfaces use: it
// stays, being deleted, with an Event naming both, until the last of them is deleted; an
// interface of another network does not hold it.
func TestDeletionWaitsForNetworkInterfaces(t *testing.T) {
	server := testserver.Start(t)
	recorder := events.NewFakeRecorder(1000)
	startController(t, server, recorder)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "tenant"
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)

	for _, name := range []string{"net", "other"} {
		if _, err := networks.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*networkingv1alpha1.NetworkInterface{nic("nic-a", "net"), nic("nic-b", "net"), nic("nic-other", "other")} {
		if _, err := nics.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := networks.Delete(ctx, "net", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	event := waitForEvent(t, recorder, networkprotection.ReasonInUse, "2 left", "nic-a", "nic-b")
	if strings.Contains(event, "nic-other") {
		t.Errorf("event names an interface of another network: %s", event)
	}
	stillThere := func() {
		t.Helper()
		n, err := networks.Get(ctx, "net", metav1.GetOptions{})
		if err != nil || n.DeletionTimestamp == nil || !slices.Contains(n.Finalizers, networkprotection.Finalizer) {
			t.Fatalf("network while interfaces use it: %v %+v; want it there, being deleted, with its finalizer", err, n)
		}
	}
	stillThere()

	if err := nics.Delete(ctx, "nic-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, recorder, networkprotection.ReasonInUse, "1 left", "nic-b")
	stillThere()

	if err := nics.Delete(ctx, "nic-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := networks.Get(ctx, "net", metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("network not deleted after its last interface: %v", err)
	}
	if _, err := networks.Get(ctx, "other", metav1.GetOptions{}); err != nil {
		t.Fatalf("the other network: %v", err)
	}
}

// ignoreNotFound drops NotFound (what the poll waits for) and returns other errors.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// TestOlderNetworksGetTheFinalizer checks that a Network without the finalizer (made before
// the apiserver added it) gets it from the controller.
func TestOlderNetworksGetTheFinalizer(t *testing.T) {
	server := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	networks := server.Client.NetworkingV1alpha1().Networks("tenant")
	if _, err := networks.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old, err := networks.Patch(ctx, "old", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil || len(old.Finalizers) != 0 {
		t.Fatalf("removing the finalizer: %v %v", err, old.Finalizers)
	}
	startController(t, server, events.NewFakeRecorder(100))
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := networks.Get(ctx, "old", metav1.GetOptions{})
		return err == nil && slices.Contains(n.Finalizers, networkprotection.Finalizer), err
	})
	if err != nil {
		t.Fatalf("older network did not get the finalizer: %v", err)
	}
}
