package ephemeral_test

import (
	"context"
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

	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/ephemeral"
)

func startEphemeral(t *testing.T, server *testserver.Server) (stop func()) {
	stop, _ = startEphemeralRecording(t, server)
	return stop
}

// startEphemeralRecording runs the ephemeral controllers and returns the events they record.
func startEphemeralRecording(t *testing.T, server *testserver.Server) (stop func(), recorder *events.FakeRecorder) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	o.RetryInterval = time.Second
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	recorder = events.NewFakeRecorder(100)
	if err := controllermanager.AddEphemeral(ctx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop, recorder
}

func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Inline volumes and NICs become objects owned by the machine, leave with their spec entry, and
// go with the machine, also when the machine is deleted while the controller is down.
func TestEphemeralLifecycle(t *testing.T) {
	server := testserver.Start(t)
	stop := startEphemeral(t, server)
	ctx := context.Background()
	const ns = "eph"
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	disk := func(name, size string) computev1alpha1.MachineVolume {
		return computev1alpha1.MachineVolume{Name: name, Ephemeral: &computev1alpha1.EphemeralVolumeSource{
			VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		}}
	}
	machine, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12",
			Volumes: []computev1alpha1.MachineVolume{disk("root", "20Gi"), disk("data", "100Gi")},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{{Name: "eth0", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
				NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []string{"10.0.0.5"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(get func() error) bool { return get() == nil }
	gone := func(get func() error) bool { return apierrors.IsNotFound(get()) }
	volume := func(name string) func() error {
		return func() error { _, err := volumes.Get(ctx, name, metav1.GetOptions{}); return err }
	}
	nic := func(name string) func() error {
		return func() error { _, err := nics.Get(ctx, name, metav1.GetOptions{}); return err }
	}
	waitFor(t, "ephemeral objects", func() bool {
		return exists(volume("web-root")) && exists(volume("web-data")) && exists(nic("web-eth0"))
	})
	root, _ := volumes.Get(ctx, templates.VolumeName("web", "root"), metav1.GetOptions{})
	if ref := metav1.GetControllerOf(root); ref == nil || ref.UID != machine.UID {
		t.Errorf("web-root controller %v, want the machine", ref)
	}
	if root.Spec.Resources.Storage().String() != "20Gi" {
		t.Errorf("web-root spec %+v", root.Spec)
	}
	eth0, _ := nics.Get(ctx, templates.NetworkInterfaceName("web", "eth0"), metav1.GetOptions{})
	if len(eth0.Spec.IPs) != 1 || eth0.Spec.IPs[0].Value != "10.0.0.5" {
		t.Errorf("web-eth0 spec %+v", eth0.Spec)
	}
	waitFor(t, "EphemeralResourcesReady True", func() bool {
		m, err := machines.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionTrue(m.Status.Conditions, ephemeral.ConditionReady)
	})

	// Dropping the data entry deletes its volume.
	machine, _ = machines.Get(ctx, "web", metav1.GetOptions{})
	machine.Spec.Volumes = machine.Spec.Volumes[:1]
	if _, err := machines.Update(ctx, machine, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-data deleted", func() bool { return gone(volume("web-data")) })

	// The machine goes while the controller is down; a new controller cleans up.
	stop()
	if err := machines.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startEphemeral(t, server)
	waitFor(t, "objects deleted with the machine", func() bool { return gone(volume("web-root")) && gone(nic("web-eth0")) })

	// And with the controller up, deletion follows at once.
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12",
			Volumes: []computev1alpha1.MachineVolume{disk("root", "10Gi")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db-root", func() bool { return exists(volume("db-root")) })
	if err := machines.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db-root deleted", func() bool { return gone(volume("db-root")) })
}
