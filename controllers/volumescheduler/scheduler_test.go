package volumescheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/volumescheduler"
)

// Volumes go to pools with enough free bytes of their class and never past a pool's allocatable,
// with two schedulers creating the race.
func TestBytesNeverOvercommitWithTwoSchedulers(t *testing.T) {
	startScheduler(t, nil)
	startScheduler(t, nil)
	sel := map[string]string{"test": "bytes"}
	// 3 pools of 100Gi: 30 volumes of 10Gi fit, of 40 created; the tainted pool takes none.
	for _, name := range names("bytes-pool", 3) {
		createPool(t, name, sel, map[string]string{"bytes-fast": "100Gi"}, nil)
	}
	createPool(t, "bytes-tainted", sel, map[string]string{"bytes-fast": "1Ti"}, []corev1.Taint{{Key: "full", Effect: corev1.TaintEffectNoSchedule}})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i, name := range names("v", 40) {
				if i%4 == w {
					createVolume(t, "bytes", name, "bytes-fast", "10Gi", sel)
				}
			}
		}(w)
	}
	wg.Wait()
	waitFor(t, 60*time.Second, "30 bound", func() (bool, error) { return boundCounts(t, "bytes")[""] == 10, nil })
	time.Sleep(time.Second)
	counts := boundCounts(t, "bytes")
	for _, name := range names("bytes-pool", 3) {
		if counts[name] != 10 {
			t.Errorf("pool %s holds %d volumes of 10Gi, want 10 (100Gi)", name, counts[name])
		}
		pool, err := server.Client.StorageV1alpha1().VolumePools().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reserved := volumescheduler.Reserved(pool, "bytes-fast")
		if reserved.Cmp(resource.MustParse("100Gi")) != 0 {
			t.Errorf("pool %s ledger holds %s, want 100Gi", name, reserved.String())
		}
	}
	if counts["bytes-tainted"] != 0 {
		t.Errorf("%d volumes on the tainted pool", counts["bytes-tainted"])
	}
}

// A volume bigger than any pool's free bytes is unschedulable with PoolsFull and an event, and a
// volume of a class no pool offers says so.
func TestUnschedulableVolumes(t *testing.T) {
	recorder := events.NewFakeRecorder(100)
	startScheduler(t, recorder)
	sel := map[string]string{"test": "unsched-volumes"}
	createPool(t, "unsched-volume-pool", sel, map[string]string{"unsched-std": "50Gi"}, nil)
	createVolume(t, "unsched-volumes", "huge", "unsched-std", "60Gi", sel)
	createVolume(t, "unsched-volumes", "classless", "unsched-none", "1Gi", sel)
	reasonOf := func(name string) string {
		v, err := server.Client.StorageV1alpha1().Volumes("unsched-volumes").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(v.Status.Conditions, volumescheduler.ConditionScheduled); c != nil {
			return c.Reason
		}
		return ""
	}
	waitFor(t, 20*time.Second, "verdicts", func() (bool, error) {
		return reasonOf("huge") == volumescheduler.ReasonPoolsFull && reasonOf("classless") == volumescheduler.ReasonNoPoolOffersClass, nil
	})
	select {
	case e := <-recorder.Events:
		if !strings.Contains(e, "FailedScheduling") {
			t.Errorf("event %q", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no FailedScheduling event")
	}
	// Growing the pool lets the big volume in.
	pool, err := server.Client.StorageV1alpha1().VolumePools().Get(context.Background(), "unsched-volume-pool", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool.Status.Allocatable["unsched-std"] = resource.MustParse("100Gi")
	if _, err := server.Client.StorageV1alpha1().VolumePools().UpdateStatus(context.Background(), pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "huge bound", func() (bool, error) { return boundCounts(t, "unsched-volumes")["unsched-volume-pool"] == 1, nil })
}

// A reservation left behind by a scheduler that crashed before binding is completed on its pool,
// and one for a volume that no longer exists is dropped.
func TestHalfDoneReservationIsCompleted(t *testing.T) {
	sel := map[string]string{"test": "half-done"}
	createPool(t, "half-done-a", sel, map[string]string{"half-std": "100Gi"}, nil)
	createPool(t, "half-done-b", sel, map[string]string{"half-std": "100Gi"}, nil)
	createVolume(t, "half-done", "orphan", "half-std", "30Gi", sel)
	ctx := context.Background()
	orphan, err := server.Client.StorageV1alpha1().Volumes("half-done").Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := server.Client.StorageV1alpha1().VolumePools().Get(ctx, "half-done-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool.Status.Reservations = []storagev1alpha1.VolumePoolReservation{
		{VolumeUID: orphan.UID, VolumeClass: "half-std", Storage: resource.MustParse("30Gi")},
		{VolumeUID: "0000-gone", VolumeClass: "half-std", Storage: resource.MustParse("50Gi")},
	}
	if _, err := server.Client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, nil)
	waitFor(t, 20*time.Second, "orphan bound to the pool holding its reservation", func() (bool, error) {
		return boundCounts(t, "half-done")["half-done-b"] == 1, nil
	})
	waitFor(t, 20*time.Second, "the gone volume's 50Gi released", func() (bool, error) {
		pool, err := server.Client.StorageV1alpha1().VolumePools().Get(ctx, "half-done-b", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		reserved := volumescheduler.Reserved(pool, "half-std")
		return !volumescheduler.HasReservation(pool, "0000-gone") && reserved.Cmp(resource.MustParse("30Gi")) == 0, nil
	})
}

// A growth that resize admission reserved in the ledger but whose volume update never landed
// (the entry is larger than the volume) is kept for the growth grace, then given back.
func TestUnstoredGrowthIsGivenBack(t *testing.T) {
	sel := map[string]string{"test": "unstored-growth"}
	createPool(t, "unstored-growth", sel, map[string]string{"growth-std": "100Gi"}, nil)
	createVolume(t, "unstored-growth", "disk", "growth-std", "10Gi", sel)
	startScheduler(t, nil)
	ctx := context.Background()
	pools := server.Client.StorageV1alpha1().VolumePools()
	reserved := func() resource.Quantity {
		pool, err := pools.Get(ctx, "unstored-growth", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return volumescheduler.Reserved(pool, "growth-std")
	}
	waitFor(t, 20*time.Second, "the volume bound", func() (bool, error) {
		return boundCounts(t, "unstored-growth")["unstored-growth"] == 1, nil
	})
	// Reserve a growth to 40Gi as admission does, without updating the volume.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pool, err := pools.Get(ctx, "unstored-growth", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range pool.Status.Reservations {
			pool.Status.Reservations[i].Storage = resource.MustParse("40Gi")
		}
		_, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	reservedAt := time.Now()
	waitFor(t, 20*time.Second, "the unstored growth given back", func() (bool, error) {
		got := reserved()
		return got.Cmp(resource.MustParse("10Gi")) == 0, nil
	})
	if held := time.Since(reservedAt); held < time.Second {
		t.Fatalf("the reserved growth was given back after %v, before the 2 s grace", held)
	}
}
