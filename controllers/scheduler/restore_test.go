package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// A volume restored from a snapshot goes to the pool holding the snapshot, whatever the
// placement policy prefers: first the pool of the snapshotted Volume, then the pool the poollet
// wrote into status.volumePoolRef. Until the snapshot exists and is on a pool, the volume waits
// with Scheduled=False SourceNotPlaced, and it is placed as soon as the snapshot is.
func TestRestoredVolumeGoesToTheSnapshotsPool(t *testing.T) {
	f := volumes{}
	p := "volume-restore"
	startScheduler(t, f, nil)
	t.Cleanup(func() { f.deleteAll(t, p) })
	ctx := context.Background()
	sel := map[string]string{"test": p}
	class := p + "-class"
	// The snapshot's pool is the fuller one, so that spreading alone would never pick it.
	f.createPool(t, poolSpec{name: p + "-a", labels: sel, allocatable: map[string]int64{class: 6}})
	f.createPool(t, poolSpec{name: p + "-b", labels: sel, allocatable: map[string]int64{class: 40}})
	// The source matches no pool, so that only the test binds it.
	f.createObject(t, objectSpec{namespace: p, name: "source", class: class, selector: map[string]string{"test": "none"}})
	f.bindByHand(t, p, "source", p+"-a")

	snapshots := server.Client.StorageV1alpha1().VolumeSnapshots(p)
	restore := func(name, snapshot string) {
		t.Helper()
		_, err := server.Client.StorageV1alpha1().Volumes(p).Create(ctx, &storagev1alpha1.Volume{
			ObjectMeta: metav1.ObjectMeta{Namespace: p, Name: name},
			Spec: storagev1alpha1.VolumeSpec{
				VolumeClassRef: corev1.LocalObjectReference{Name: class}, VolumePoolSelector: sel,
				Resources:   corev1.ResourceList{corev1.ResourceStorage: gi},
				SnapshotRef: &corev1.LocalObjectReference{Name: snapshot},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	poolOf := func(name string) (string, *metav1.Condition) {
		for _, o := range f.list(t, p) {
			if o.name == name {
				return o.pool, o.scheduled
			}
		}
		return "", nil
	}

	// Snapshot of a bound Volume, before its poollet has claimed it.
	if _, err := snapshots.Create(ctx, &storagev1alpha1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "of-source"},
		Spec:       storagev1alpha1.VolumeSnapshotSpec{VolumeRef: corev1.LocalObjectReference{Name: "source"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range names("restored", 3) {
		restore(name, "of-source")
	}
	waitFor(t, 20*time.Second, "the restored volumes bound", func() bool {
		for _, name := range names("restored", 3) {
			if pool, _ := poolOf(name); pool == "" {
				return false
			}
		}
		return true
	})
	for _, name := range names("restored", 3) {
		if pool, _ := poolOf(name); pool != p+"-a" {
			t.Errorf("%s bound to %s, want the snapshot's pool %s-a", name, pool, p)
		}
	}

	// A snapshot that does not exist yet: the volume waits, saying why, and is placed on the
	// pool named by status.volumePoolRef once the snapshot is there (its Volume is gone).
	restore("early", "later")
	waitFor(t, 20*time.Second, "Scheduled=False SourceNotPlaced", func() bool {
		_, c := poolOf("early")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == scheduler.ReasonSourceNotPlaced
	})
	if _, c := poolOf("early"); !strings.Contains(c.Message, "later") {
		t.Errorf("condition message %q does not name the snapshot", c.Message)
	}
	later, err := snapshots.Create(ctx, &storagev1alpha1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "later"},
		Spec:       storagev1alpha1.VolumeSnapshotSpec{VolumeRef: corev1.LocalObjectReference{Name: "gone"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if pool, _ := poolOf("early"); pool != "" {
		t.Fatalf("bound to %s before the snapshot was on a pool", pool)
	}
	later.Status.VolumePoolRef = &corev1.LocalObjectReference{Name: p + "-a"}
	if _, err := snapshots.UpdateStatus(ctx, later, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The scheduler's retry interval is 5 s in these tests: binding faster shows the snapshot
	// change requeued the volume.
	waitFor(t, 4*time.Second, "the early volume bound", func() bool { pool, _ := poolOf("early"); return pool != "" })
	if pool, _ := poolOf("early"); pool != p+"-a" {
		t.Errorf("early bound to %s, want %s-a", pool, p)
	}

	// The pool holding a snapshot is fixed once written.
	later, err = snapshots.Get(ctx, "later", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	later.Status.VolumePoolRef = &corev1.LocalObjectReference{Name: p + "-b"}
	if _, err := snapshots.UpdateStatus(ctx, later, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "status.volumePoolRef") {
		t.Errorf("moving status.volumePoolRef: %v, want an error naming the field", err)
	}
	checkLedgers(t, f, p, class, p+"-a", p+"-b")
}
