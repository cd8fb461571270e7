package volumeresize_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

const ns = "resize"

func createClass(t *testing.T, client versioned.Interface, name string, policy storagev1alpha1.ResizePolicy) {
	t.Helper()
	if _, err := client.StorageV1alpha1().VolumeClasses().Create(context.Background(), &storagev1alpha1.VolumeClass{
		ObjectMeta:   metav1.ObjectMeta{Name: name},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("1000"), "tps": resource.MustParse("100Mi")},
		ResizePolicy: policy,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createVolume(t *testing.T, client versioned.Interface, name, class, size string) *storagev1alpha1.Volume {
	t.Helper()
	volume, err := client.StorageV1alpha1().Volumes(ns).Create(context.Background(), &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: class},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return volume
}

// resize sets the volume's storage; it returns the error of the update.
func resize(client versioned.Interface, name, size string) error {
	ctx := context.Background()
	volume, err := client.StorageV1alpha1().Volumes(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	volume.Spec.Resources[corev1.ResourceStorage] = resource.MustParse(size)
	_, err = client.StorageV1alpha1().Volumes(ns).Update(ctx, volume, metav1.UpdateOptions{})
	return err
}

// wantRefused fails unless err is a 422 naming spec.resources[storage] with text in its message.
func wantRefused(t *testing.T, err error, text string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422", err)
	}
	for _, cause := range err.(apierrors.APIStatus).Status().Details.Causes {
		if cause.Field == "spec.resources[storage]" && strings.Contains(cause.Message, text) {
			return
		}
	}
	t.Fatalf("422 %v does not name spec.resources[storage] with %q", err, text)
}

// The class's resize policy applies to every volume, bound or not.
func TestResizePolicy(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	createClass(t, client, "static", storagev1alpha1.ResizePolicyStatic)
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)

	createVolume(t, client, "fixed", "static", "10Gi")
	wantRefused(t, resize(client, "fixed", "20Gi"), "resizePolicy Static")

	createVolume(t, client, "growing", "expand", "10Gi")
	if err := resize(client, "growing", "20Gi"); err != nil {
		t.Fatalf("growing an ExpandOnly volume: %v", err)
	}
	wantRefused(t, resize(client, "growing", "15Gi"), "shrink")

	// The same size in another spelling is not a change.
	if err := resize(client, "fixed", "10240Mi"); err != nil {
		t.Fatalf("rewriting a Static volume's size unchanged: %v", err)
	}
	// A volume whose class does not exist yet has nothing on a backend: any size goes.
	createVolume(t, client, "early", "not-yet", "10Gi")
	if err := resize(client, "early", "30Gi"); err != nil {
		t.Fatalf("resizing an unbound volume of a class not created yet: %v", err)
	}
}

// A bound volume grows only as far as its pool can still hold: allocatable for the class minus
// the ledger's entries for other volumes of the class (counted by UID).
func TestGrowthLimitedByPool(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	ctx := context.Background()
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)
	pools := client.StorageV1alpha1().VolumePools()
	pool, err := pools.Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: "ceph-a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volume := createVolume(t, client, "data", "expand", "10Gi")
	bind(t, server, "data", "ceph-a")

	pool.Status.Allocatable = corev1.ResourceList{"expand": resource.MustParse("100Gi"), "other": resource.MustParse("1Ti")}
	pool.Status.Reservations = []storagev1alpha1.VolumePoolReservation{
		{VolumeUID: "another-volume", VolumeClass: "expand", Storage: resource.MustParse("60Gi")},
		{VolumeUID: volume.UID, VolumeClass: "expand", Storage: resource.MustParse("10Gi")},
		{VolumeUID: "other-class", VolumeClass: "other", Storage: resource.MustParse("500Gi")},
	}
	if _, err := pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	wantRefused(t, resize(client, "data", "41Gi"), `volume pool "ceph-a" can hold at most 40Gi of volume class "expand"`)
	if err := resize(client, "data", "40Gi"); err != nil {
		t.Fatalf("growing to exactly what the pool holds: %v", err)
	}
}

// bind binds a volume through the binding subresource, as the scheduler does.
func bind(t *testing.T, server *testserver.Server, volume, pool string) {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"storage.ferrite.dev/v1alpha1","kind":"VolumeBinding","metadata":{"name":%q},"target":{"name":%q}}`, volume, pool)
	err := server.Client.StorageV1alpha1().RESTClient().Post().Namespace(ns).Resource("volumes").Name(volume).SubResource("binding").
		SetHeader("Content-Type", "application/json").Body([]byte(body)).Do(context.Background()).Error()
	if err != nil {
		t.Fatalf("binding %s to %s: %v", volume, pool, err)
	}
}

// TestConcurrentGrowthNeverOvercommits grows two volumes of one pool at the same moment, each
// to a size that fits alone but not together: the growths are serialized by the pool's ledger,
// so exactly one is admitted, and the ledger holds it.
func TestConcurrentGrowthNeverOvercommits(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	ctx := context.Background()
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)
	pools := client.StorageV1alpha1().VolumePools()
	pool, err := pools.Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: "ceph-c"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := createVolume(t, client, "a", "expand", "10Gi"), createVolume(t, client, "b", "expand", "10Gi")
	bind(t, server, "a", "ceph-c")
	bind(t, server, "b", "ceph-c")
	pool.Status.Allocatable = corev1.ResourceList{"expand": resource.MustParse("100Gi")}
	pool.Status.Reservations = []storagev1alpha1.VolumePoolReservation{
		{VolumeUID: a.UID, VolumeClass: "expand", Storage: resource.MustParse("10Gi")},
		{VolumeUID: b.UID, VolumeClass: "expand", Storage: resource.MustParse("10Gi")},
	}
	if _, err := pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	for round := 0; round < 5; round++ {
		size := fmt.Sprintf("%dGi", 60+round)
		errs := make(chan error, 2)
		for _, name := range []string{"a", "b"} {
			go func(name string) { errs <- resize(client, name, size) }(name)
		}
		admitted := 0
		for range 2 {
			err := <-errs
			switch {
			case err == nil:
				admitted++
			case apierrors.IsInvalid(err) || apierrors.IsConflict(err):
			default:
				t.Fatal(err)
			}
		}
		got, err := pools.Get(ctx, "ceph-c", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var total resource.Quantity
		for _, r := range got.Status.Reservations {
			total.Add(r.Storage)
		}
		if total.Cmp(resource.MustParse("100Gi")) > 0 {
			t.Fatalf("round %d: the ledger holds %s of a 100Gi pool", round, total.String())
		}
		if round == 0 && admitted != 1 {
			t.Fatalf("round 0: %d growths to 60Gi admitted, want exactly 1", admitted)
		}
		if admitted > 1 {
			t.Fatalf("round %d: both growths admitted", round)
		}
	}
}
