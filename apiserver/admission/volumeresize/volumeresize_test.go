package volumeresize_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
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

// ledger is the part of a pool's status the tests set and read.
type ledger struct {
	allocatable, allocated corev1.ResourceList
	reservations           []storagev1alpha1.VolumePoolReservation
}

// createPool creates a pool and writes its ledger.
func createPool(t *testing.T, client versioned.Interface, name string, l ledger) *storagev1alpha1.VolumePool {
	t.Helper()
	ctx := context.Background()
	pools := client.StorageV1alpha1().VolumePools()
	pool, err := pools.Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool.Status.Allocatable, pool.Status.Allocated, pool.Status.Reservations = l.allocatable, l.allocated, l.reservations
	pool.Status.AllocatedRevision = "42"
	if pool, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pool
}

func getPool(t *testing.T, client versioned.Interface, name string) *storagev1alpha1.VolumePool {
	t.Helper()
	pool, err := client.StorageV1alpha1().VolumePools().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// entry returns the pool's entry for uid, nil without one.
func entry(pool *storagev1alpha1.VolumePool, uid types.UID) *storagev1alpha1.VolumePoolReservation {
	for i := range pool.Status.Reservations {
		if pool.Status.Reservations[i].VolumeUID == uid {
			return &pool.Status.Reservations[i]
		}
	}
	return nil
}

// used is what the pool's ledger counts for class: allocated plus the class's entries.
func used(pool *storagev1alpha1.VolumePool, class string) resource.Quantity {
	total := pool.Status.Allocated[corev1.ResourceName(class)].DeepCopy()
	for _, r := range pool.Status.Reservations {
		if r.VolumeClass == class {
			total.Add(r.Storage)
		}
	}
	return total
}

func wantQuantity(t *testing.T, what string, got resource.Quantity, want string) {
	t.Helper()
	if got.Cmp(resource.MustParse(want)) != 0 {
		t.Fatalf("%s is %s, want %s", what, got.String(), want)
	}
}

func gi(s string) resource.Quantity { return resource.MustParse(s) }

// A bound volume grows only as far as its pool can still hold: allocatable for the class minus
// what the ledger counts for the class's other volumes, status.allocated plus the entries of
// status.reservations. A volume with an entry is counted by it; one without is counted in
// allocated at its stored size.
func TestGrowthLimitedByPool(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)

	// The volume's entry (a placement in flight) is raised; allocated is left alone.
	t.Run("volume with an entry", func(t *testing.T) {
		volume := createVolume(t, client, "in-flight", "expand", "10Gi")
		createPool(t, client, "pool-entry", ledger{
			allocatable: corev1.ResourceList{"expand": gi("100Gi"), "other": gi("1Ti")},
			allocated:   corev1.ResourceList{"expand": gi("30Gi"), "other": gi("200Gi")},
			reservations: []storagev1alpha1.VolumePoolReservation{
				{VolumeUID: "another-volume", VolumeClass: "expand", Storage: gi("30Gi")},
				{VolumeUID: volume.UID, VolumeClass: "expand", Storage: gi("10Gi")},
				{VolumeUID: "other-class", VolumeClass: "other", Storage: gi("500Gi")},
			},
		})
		bind(t, server, "in-flight", "pool-entry")
		wantRefused(t, resize(client, "in-flight", "41Gi"), `volume pool "pool-entry" can hold at most 40Gi of volume class "expand"`)
		if err := resize(client, "in-flight", "40Gi"); err != nil {
			t.Fatalf("growing to exactly what the pool holds: %v", err)
		}
		pool := getPool(t, client, "pool-entry")
		if e := entry(pool, volume.UID); e == nil {
			t.Fatal("the volume's entry is gone")
		} else {
			wantQuantity(t, "the volume's entry", e.Storage, "40Gi")
		}
		wantQuantity(t, "allocated[expand]", pool.Status.Allocated["expand"], "30Gi")
		wantQuantity(t, "allocated[other]", pool.Status.Allocated["other"], "200Gi")
		wantQuantity(t, "the other volume's entry", entry(pool, "another-volume").Storage, "30Gi")
		if len(pool.Status.Reservations) != 3 || pool.Status.AllocatedRevision != "42" {
			t.Fatalf("ledger %+v: want 3 entries and allocatedRevision 42", pool.Status)
		}
	})

	// A volume counted in allocated gets an entry at its new size, and allocated loses its old
	// size in the same update: the volume is counted once.
	t.Run("volume without an entry", func(t *testing.T) {
		volume := createVolume(t, client, "counted", "expand", "10Gi")
		createPool(t, client, "pool-counted", ledger{
			allocatable: corev1.ResourceList{"expand": gi("100Gi"), "other": gi("1Ti")},
			// 50Gi counted for other volumes, 10Gi for this one.
			allocated: corev1.ResourceList{"expand": gi("60Gi"), "other": gi("200Gi")},
			reservations: []storagev1alpha1.VolumePoolReservation{
				{VolumeUID: "placing", VolumeClass: "expand", Storage: gi("20Gi")},
				{VolumeUID: "other-class", VolumeClass: "other", Storage: gi("500Gi")},
			},
		})
		bind(t, server, "counted", "pool-counted")
		wantRefused(t, resize(client, "counted", "31Gi"), `volume pool "pool-counted" can hold at most 30Gi of volume class "expand"`)
		pool := getPool(t, client, "pool-counted")
		if entry(pool, volume.UID) != nil {
			t.Fatal("a refused growth left an entry")
		}
		wantQuantity(t, "allocated[expand] after a refusal", pool.Status.Allocated["expand"], "60Gi")

		if err := resize(client, "counted", "30Gi"); err != nil {
			t.Fatalf("growing to exactly what the pool holds: %v", err)
		}
		pool = getPool(t, client, "pool-counted")
		e := entry(pool, volume.UID)
		if e == nil {
			t.Fatal("the growth was admitted without an entry")
		}
		if e.VolumeClass != "expand" {
			t.Fatalf("the entry is of class %q, want expand", e.VolumeClass)
		}
		wantQuantity(t, "the volume's entry", e.Storage, "30Gi")
		wantQuantity(t, "allocated[expand]", pool.Status.Allocated["expand"], "50Gi")
		wantQuantity(t, "allocated[other]", pool.Status.Allocated["other"], "200Gi")
		wantQuantity(t, "used(expand)", used(pool, "expand"), "100Gi")
		if pool.Status.AllocatedRevision != "42" {
			t.Fatalf("allocatedRevision %q, want 42 (admission never changes it)", pool.Status.AllocatedRevision)
		}
		// Now counted by its entry: a further growth is checked against the same others.
		wantRefused(t, resize(client, "counted", "31Gi"), "can hold at most 30Gi")
	})

	// Allocated alone and the other entries alone leave room; together they leave none.
	t.Run("allocated and other entries leave no room", func(t *testing.T) {
		volume := createVolume(t, client, "full", "expand", "10Gi")
		before := createPool(t, client, "pool-full", ledger{
			allocatable: corev1.ResourceList{"expand": gi("100Gi")},
			allocated:   corev1.ResourceList{"expand": gi("60Gi")},
			reservations: []storagev1alpha1.VolumePoolReservation{
				{VolumeUID: "placing", VolumeClass: "expand", Storage: gi("40Gi")},
			},
		})
		bind(t, server, "full", "pool-full")
		wantRefused(t, resize(client, "full", "11Gi"),
			`volume pool "pool-full" can hold at most 10Gi of volume class "expand" for this volume (allocatable 100Gi, used by other volumes 90Gi: 50Gi counted in status.allocated, 40Gi reserved in status.reservations); 11Gi does not fit`)
		if pool := getPool(t, client, "pool-full"); pool.ResourceVersion != before.ResourceVersion || entry(pool, volume.UID) != nil {
			t.Fatal("a refused growth wrote the ledger")
		}
	})

	// An entry already holding the new size (a growth reserved before) is not written again.
	t.Run("entry already large enough", func(t *testing.T) {
		volume := createVolume(t, client, "reserved", "expand", "10Gi")
		before := createPool(t, client, "pool-reserved", ledger{
			allocatable: corev1.ResourceList{"expand": gi("100Gi")},
			reservations: []storagev1alpha1.VolumePoolReservation{
				{VolumeUID: volume.UID, VolumeClass: "expand", Storage: gi("50Gi")},
			},
		})
		bind(t, server, "reserved", "pool-reserved")
		if err := resize(client, "reserved", "40Gi"); err != nil {
			t.Fatal(err)
		}
		if pool := getPool(t, client, "pool-reserved"); pool.ResourceVersion != before.ResourceVersion {
			t.Fatal("an entry holding the new size already was written again")
		}
	})

	// Without status.allocated for the class, a volume without an entry gets one and allocated
	// stays absent (it is not lowered below 0).
	t.Run("nothing allocated", func(t *testing.T) {
		volume := createVolume(t, client, "uncounted", "expand", "10Gi")
		createPool(t, client, "pool-empty", ledger{allocatable: corev1.ResourceList{"expand": gi("100Gi")}})
		bind(t, server, "uncounted", "pool-empty")
		if err := resize(client, "uncounted", "100Gi"); err != nil {
			t.Fatal(err)
		}
		pool := getPool(t, client, "pool-empty")
		if e := entry(pool, volume.UID); e == nil || e.Storage.Cmp(gi("100Gi")) != 0 {
			t.Fatalf("entries %+v, want the volume's at 100Gi", pool.Status.Reservations)
		}
		if q, ok := pool.Status.Allocated["expand"]; ok && !q.IsZero() {
			t.Fatalf("allocated[expand] %s, want none", q.String())
		}
	})
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
// to a size that fits alone but not together: one has an entry (a placement in flight), the
// other is counted in allocated. The growths are serialized by the pool's ledger, so exactly
// one is admitted per round, and allocated plus the entries never pass allocatable.
func TestConcurrentGrowthNeverOvercommits(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	ctx := context.Background()
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)
	a, _ := createVolume(t, client, "a", "expand", "10Gi"), createVolume(t, client, "b", "expand", "10Gi")
	createPool(t, client, "ceph-c", ledger{
		allocatable:  corev1.ResourceList{"expand": gi("100Gi")},
		allocated:    corev1.ResourceList{"expand": gi("10Gi")}, // b
		reservations: []storagev1alpha1.VolumePoolReservation{{VolumeUID: a.UID, VolumeClass: "expand", Storage: gi("10Gi")}},
	})
	bind(t, server, "a", "ceph-c")
	bind(t, server, "b", "ceph-c")

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
		got := getPool(t, client, "ceph-c")
		if total := used(got, "expand"); total.Cmp(gi("100Gi")) > 0 {
			t.Fatalf("round %d: the ledger counts %s of a 100Gi pool: %+v", round, total.String(), got.Status)
		}
		if round == 0 && admitted != 1 {
			t.Fatalf("round 0: %d growths to 60Gi admitted, want exactly 1", admitted)
		}
		if admitted > 1 {
			t.Fatalf("round %d: both growths admitted", round)
		}
	}
	// The stored sizes agree with the ledger: together they fit.
	var stored resource.Quantity
	for _, name := range []string{"a", "b"} {
		volume, err := client.StorageV1alpha1().Volumes(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored.Add(volume.Spec.Resources[corev1.ResourceStorage])
	}
	if stored.Cmp(gi("100Gi")) > 0 {
		t.Fatalf("the volumes store %s on a 100Gi pool", stored.String())
	}
}

// When the ledger already holds its 1024 entries in flight, a growth that needs a new entry is
// refused with 429 and a Retry-After (client-go waits and sends it again by itself), while a
// volume that has an entry can still grow. Once an entry leaves, the growth goes through.
func TestGrowthRefusedWhileLedgerFull(t *testing.T) {
	server := testserver.Start(t)
	client := server.Client
	ctx := context.Background()
	createClass(t, client, "expand", storagev1alpha1.ResizePolicyExpandOnly)
	counted := createVolume(t, client, "counted", "expand", "10Gi")
	inFlight := createVolume(t, client, "in-flight", "expand", "10Gi")
	reservations := []storagev1alpha1.VolumePoolReservation{{VolumeUID: inFlight.UID, VolumeClass: "expand", Storage: gi("10Gi")}}
	for i := len(reservations); i < apivalidation.MaxLedgerReservations; i++ {
		reservations = append(reservations, storagev1alpha1.VolumePoolReservation{
			VolumeUID: types.UID(fmt.Sprintf("placing-%04d", i)), VolumeClass: "expand", Storage: gi("1Gi")})
	}
	before := createPool(t, client, "crowded", ledger{
		allocatable:  corev1.ResourceList{"expand": gi("10Ti")},
		allocated:    corev1.ResourceList{"expand": gi("10Gi")}, // counted
		reservations: reservations,
	})
	bind(t, server, "counted", "crowded")
	bind(t, server, "in-flight", "crowded")

	// One attempt, without client-go's own retry, to see the refusal.
	volume, err := client.StorageV1alpha1().Volumes(ns).Get(ctx, "counted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volume.Spec.Resources[corev1.ResourceStorage] = gi("20Gi")
	err = client.StorageV1alpha1().RESTClient().Put().Namespace(ns).Resource("volumes").Name("counted").
		Body(volume).MaxRetries(0).Do(ctx).Error()
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("growing a volume without an entry in a full ledger: got %v, want 429", err)
	}
	if seconds, ok := apierrors.SuggestsClientDelay(err); !ok || seconds < 1 {
		t.Fatalf("429 %v suggests no retry delay", err)
	}
	if !strings.Contains(err.Error(), "crowded") || !strings.Contains(err.Error(), "retry later") {
		t.Fatalf("429 %q does not name the pool and say to retry later", err.Error())
	}
	pool := getPool(t, client, "crowded")
	if pool.ResourceVersion != before.ResourceVersion {
		t.Fatal("a refused growth wrote the ledger")
	}

	// Raising an existing entry adds none: allowed.
	if err := resize(client, "in-flight", "20Gi"); err != nil {
		t.Fatalf("growing a volume with an entry in a full ledger: %v", err)
	}

	// client-go sends the update again after the 429's Retry-After; once an entry has left
	// the ledger, it goes through. The transport counts the 429s the clientset sees.
	var refusals atomic.Int32
	config := rest.CopyConfig(server.Config)
	config.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			response, err := next.RoundTrip(r)
			if err == nil && response.StatusCode == http.StatusTooManyRequests {
				refusals.Add(1)
			}
			return response, err
		})
	})
	retrying, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- resize(retrying, "counted", "20Gi") }()
	for deadline := time.Now().Add(10 * time.Second); refusals.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the growth was not refused while the ledger was full")
		}
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pool := getPool(t, client, "crowded")
		pool.Status.Reservations = pool.Status.Reservations[:len(pool.Status.Reservations)-1]
		_, err := client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("growing once the ledger has room (after %d refusals): %v", refusals.Load(), err)
	}
	pool = getPool(t, client, "crowded")
	if e := entry(pool, counted.UID); e == nil || e.Storage.Cmp(gi("20Gi")) != 0 {
		t.Fatal("the growth was admitted without its entry at 20Gi")
	}
	wantQuantity(t, "allocated[expand]", pool.Status.Allocated["expand"], "0")
	if len(pool.Status.Reservations) != apivalidation.MaxLedgerReservations {
		t.Fatalf("%d entries, want %d", len(pool.Status.Reservations), apivalidation.MaxLedgerReservations)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
