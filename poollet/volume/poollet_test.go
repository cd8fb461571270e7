package volume_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

// The poollet creates its pool with the configured labels, reports per-class capacity (the
// physical bytes) and allocatable (times the overcommit ratio), heartbeats Ready=True without
// touching the scheduler's ledger, picks up a new class without a poll, and reports Ready=False
// when the runtime is gone.
func TestPoolRegistrationAndHeartbeat(t *testing.T) {
	pool := unique("reg")
	createClass(t, "reg-fast", storagev1alpha1.ResizePolicyStatic, false)
	e := newEnv(t, pool, fake.Options{TotalBytes: 100 << 30})
	e.options.PoolLabels = map[string]string{"topology.ferrite.dev/zone": "a"}
	e.options.OvercommitRatio = 2
	e.start()
	var p *storagev1alpha1.VolumePool
	waitFor(t, "the pool with capacity, allocatable and Ready=True", func() bool {
		p = getPool(t, pool)
		return p != nil && p.Status.Capacity.Name("reg-fast", resource.BinarySI).Value() == 100<<30 &&
			p.Status.Allocatable.Name("reg-fast", resource.BinarySI).Value() == 200<<30 &&
			meta.IsStatusConditionTrue(p.Status.Conditions, storagev1alpha1.VolumePoolConditionReady) && p.Status.LastHeartbeatTime != nil
	})
	if p.Labels["topology.ferrite.dev/zone"] != "a" || p.Spec.ProviderID != "fake://"+pool {
		t.Errorf("pool labels %v, providerID %q", p.Labels, p.Spec.ProviderID)
	}
	ledger := `{"status":{"allocated":{"reg-fast":"1Gi"},"allocatedRevision":"7"}}`
	if _, err := server.Client.StorageV1alpha1().VolumePools().Patch(context.Background(), pool, types.MergePatchType, []byte(ledger), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	first := p.Status.LastHeartbeatTime
	waitFor(t, "later heartbeats", func() bool {
		p = getPool(t, pool)
		return p.Status.LastHeartbeatTime.Time.After(first.Add(time.Second))
	})
	if p.Status.AllocatedRevision != "7" || p.Status.Allocated.Name("reg-fast", resource.BinarySI).Value() != 1<<30 {
		t.Errorf("heartbeat touched the ledger: %v %q", p.Status.Allocated, p.Status.AllocatedRevision)
	}
	createClass(t, "reg-slow", storagev1alpha1.ResizePolicyStatic, false)
	waitFor(t, "the new class", func() bool {
		_, ok := getPool(t, pool).Status.Allocatable["reg-slow"]
		return ok
	})
	e.stopRT()
	waitFor(t, "Ready=False", func() bool {
		c := meta.FindStatusCondition(getPool(t, pool).Status.Conditions, storagev1alpha1.VolumePoolConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "RuntimeUnavailable"
	})
}

// An encrypted, expandable Volume becomes Available with access, its access Secret and its
// passphrase Secret; growing it expands the runtime volume. A Static Volume's growth is refused
// with a Warning event and a condition, without a runtime call. Deleting them removes the
// runtime volumes, the Secrets and the finalizer. A Volume of another pool is never touched.
func TestVolumeLifecycle(t *testing.T) {
	ns := unique("life")
	createClass(t, "life-enc", storagev1alpha1.ResizePolicyExpandOnly, true)
	createClass(t, "life-static", storagev1alpha1.ResizePolicyStatic, false)
	flip := unique("life-flip")
	createClass(t, flip, storagev1alpha1.ResizePolicyExpandOnly, false)
	e := newEnv(t, ns, fake.Options{AvailableDelay: 100 * time.Millisecond})
	stop := e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	other := unique("other")
	if _, err := server.Client.StorageV1alpha1().VolumePools().Create(context.Background(), &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign := createVolume(t, ns, "foreign", "life-static", "1Gi", other, nil)

	enc := createVolume(t, ns, "enc", "life-enc", "1Gi", ns, nil)
	waitFor(t, "enc Available", available(t, ns, "enc"))
	v := getVolume(t, ns, "enc")
	if !hasFinalizer(v) || v.Status.VolumeID != string(enc.UID) || v.Status.ObservedGeneration != v.Generation {
		t.Fatalf("status %+v, finalizers %v", v.Status, v.Finalizers)
	}
	a := v.Status.Access
	if a.Driver != "ceph" || a.Handle == "" || a.SecretRef == nil || a.SecretRef.Name != "enc-access" ||
		a.Attributes["encryption"] != "luks2" || a.Attributes["encryptionSecret"] != "volume-"+string(enc.UID) || a.Attributes["monitors"] == "" {
		t.Fatalf("access %+v", a)
	}
	rvs := e.runtimeVolumes()
	if len(rvs) != 1 || rvs[0].GetMetadata().GetLabels()[volume.LabelVolumeName] != "enc" || rvs[0].GetSpec().GetQos().GetIopsLimit() != 1000 ||
		rvs[0].GetSpec().GetQos().GetBytesPerSecondLimit() != 10_000_000 || rvs[0].GetSpec().GetTenant() != ns {
		t.Fatalf("runtime volumes %v", rvs)
	}
	accessSecret := e.secret(ns, "enc-access")
	if accessSecret == nil || string(accessSecret.Data["key"]) != string(rvs[0].GetStatus().GetAccess().GetSecrets()["key"]) ||
		len(accessSecret.OwnerReferences) != 1 || accessSecret.OwnerReferences[0].UID != enc.UID || accessSecret.Data["passphrase"] != nil {
		t.Fatalf("access secret %+v", accessSecret)
	}
	passphrase, _ := e.runtime.Passphrase(string(enc.UID))
	if s := e.secret("ferrite-system", "volume-"+string(enc.UID)); s == nil || string(s.Data["passphrase"]) != string(passphrase) {
		t.Fatalf("passphrase secret %+v", s)
	}
	if e.events.Count(ns+"/enc Normal Created: created runtime volume") != 1 {
		t.Errorf("events %v", e.events.Events())
	}

	// Growing an ExpandOnly volume expands the runtime volume.
	grow(t, ns, "enc", "3Gi")
	waitFor(t, "the runtime volume grown", func() bool {
		return e.runtimeVolumes()[0].GetStatus().GetSizeBytes() == 3<<30 &&
			meta.IsStatusConditionTrue(getVolume(t, ns, "enc").Status.Conditions, volume.ConditionResized)
	})

	// Growing a Static volume is refused, once, without a call. (The apiserver's admission
	// refuses it too, so the volume grows while its class is ExpandOnly and the poollet is down,
	// and the class turns Static before the poollet sees it.)
	createVolume(t, ns, "static", flip, "1Gi", ns, nil)
	waitFor(t, "static Available", available(t, ns, "static"))
	stop()
	grow(t, ns, "static", "2Gi")
	class, err := server.Client.StorageV1alpha1().VolumeClasses().Get(context.Background(), flip, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	class.ResizePolicy = storagev1alpha1.ResizePolicyStatic
	if _, err := server.Client.StorageV1alpha1().VolumeClasses().Update(context.Background(), class, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.start()
	waitFor(t, "the refusal", func() bool {
		c := meta.FindStatusCondition(getVolume(t, ns, "static").Status.Conditions, volume.ConditionResized)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == volume.ReasonResizeNotAllowed
	})
	time.Sleep(500 * time.Millisecond)
	if n := e.events.Count(ns + "/static Warning ResizeNotAllowed"); n != 1 {
		t.Errorf("%d ResizeNotAllowed events, want 1: %v", n, e.events.Events())
	}
	for _, rv := range e.runtimeVolumes() {
		if rv.GetMetadata().GetLabels()[volume.LabelVolumeName] == "static" && rv.GetStatus().GetSizeBytes() != 1<<30 {
			t.Errorf("static volume resized to %d", rv.GetStatus().GetSizeBytes())
		}
	}

	// Delete: runtime volumes, Secrets and finalizers go.
	for _, name := range []string{"enc", "static"} {
		if err := server.Client.StorageV1alpha1().Volumes(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the Volumes gone", func() bool { return getVolume(t, ns, "enc") == nil && getVolume(t, ns, "static") == nil })
	if n := len(e.runtimeVolumes()); n != 0 {
		t.Errorf("%d runtime volumes left", n)
	}
	if e.secret(ns, "enc-access") != nil || e.secret("ferrite-system", "volume-"+string(enc.UID)) != nil || e.secret(ns, "static-access") != nil {
		t.Error("secrets left after delete")
	}
	if f := getVolume(t, ns, "foreign"); hasFinalizer(f) || f.Status.State != "" || f.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("a Volume of another pool was touched: %+v", f)
	}
}

// grow sets a Volume's requested storage.
func grow(t *testing.T, namespace, name, size string) {
	t.Helper()
	patch := `{"spec":{"resources":{"storage":"` + size + `"}}}`
	if _, err := server.Client.StorageV1alpha1().Volumes(namespace).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A VolumeSnapshot of a Volume on the pool becomes Ready with its restore size and names the
// pool; a Volume restored from it waits until it is Ready and is then created from it, keeping
// the source's passphrase; a Volume from an image is created from the image. Deleting the snapshot deletes
// the runtime snapshot; the restored volume stays.
func TestSnapshotRestoreAndImage(t *testing.T) {
	ns := unique("snap")
	createClass(t, "snap-enc", storagev1alpha1.ResizePolicyStatic, true)
	e := newEnv(t, ns, fake.Options{Images: map[string]fake.Image{"registry.test/os:1": {Digest: "sha256:0123", SizeBytes: 1 << 30}}})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()

	// The restore is asked for before the snapshot exists: it waits, naming the snapshot.
	restored := createVolume(t, ns, "restored", "snap-enc", "2Gi", ns, func(v *storagev1alpha1.Volume) {
		v.Spec.SnapshotRef = &corev1.LocalObjectReference{Name: "snap"}
	})
	waitFor(t, "the restore waiting", func() bool {
		c := meta.FindStatusCondition(getVolume(t, ns, "restored").Status.Conditions, volume.ConditionReady)
		return c != nil && c.Reason == volume.ReasonSourceNotReady
	})
	source := createVolume(t, ns, "source", "snap-enc", "1Gi", ns, nil)
	waitFor(t, "source Available", available(t, ns, "source"))
	snaps := server.Client.StorageV1alpha1().VolumeSnapshots(ns)
	if _, err := snaps.Create(ctx, &storagev1alpha1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "snap"},
		Spec: storagev1alpha1.VolumeSnapshotSpec{VolumeRef: corev1.LocalObjectReference{Name: "source"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var snap *storagev1alpha1.VolumeSnapshot
	waitFor(t, "the snapshot Ready", func() bool {
		s, err := snaps.Get(ctx, "snap", metav1.GetOptions{})
		snap = s
		return err == nil && s.Status.State == storagev1alpha1.VolumeSnapshotStateReady
	})
	if !hasFinalizer(snap) || snap.Status.SnapshotID != string(snap.UID) || snap.Status.RestoreSize == nil || snap.Status.RestoreSize.Value() != 1<<30 {
		t.Fatalf("snapshot %+v", snap)
	}
	// The pool holding the snapshot, where the scheduler sends restores.
	if ref := snap.Status.VolumePoolRef; ref == nil || ref.Name != ns {
		t.Errorf("snapshot status.volumePoolRef %v, want %s", ref, ns)
	}
	waitFor(t, "restored Available", available(t, ns, "restored"))
	sourcePass, _ := e.runtime.Passphrase(string(source.UID))
	restoredPass, _ := e.runtime.Passphrase(string(restored.UID))
	if string(sourcePass) != string(restoredPass) {
		t.Error("the restored volume has another passphrase")
	}
	for _, rv := range e.runtimeVolumes() {
		if rv.GetMetadata().GetId() == string(restored.UID) && rv.GetSpec().GetSnapshot().GetSnapshotId() != string(snap.UID) {
			t.Errorf("restored runtime volume source %v", rv.GetSpec().GetSource())
		}
	}

	createVolume(t, ns, "img", "snap-enc", "2Gi", ns, func(v *storagev1alpha1.Volume) { v.Spec.Image = "registry.test/os:1" })
	waitFor(t, "img Available", available(t, ns, "img"))
	for _, rv := range e.runtimeVolumes() {
		if rv.GetMetadata().GetLabels()[volume.LabelVolumeName] == "img" && rv.GetStatus().GetImageDigest() != "sha256:0123" {
			t.Errorf("image volume %v", rv)
		}
	}
	waitFor(t, "the runtime's ImageImported event on img", func() bool { return e.events.Count(ns+"/img Normal ImageImported") == 1 })

	// The snapshot outlives its volume, and goes when deleted; the restored volume stays.
	if err := server.Client.StorageV1alpha1().Volumes(ns).Delete(ctx, "source", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "source gone", func() bool { return getVolume(t, ns, "source") == nil })
	if len(e.runtimeSnapshots()) != 1 {
		t.Fatalf("runtime snapshots after the source went: %v", e.runtimeSnapshots())
	}
	if err := snaps.Delete(ctx, "snap", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the snapshot gone", func() bool {
		_, err := snaps.Get(ctx, "snap", metav1.GetOptions{})
		return err != nil && len(e.runtimeSnapshots()) == 0
	})
	if getVolume(t, ns, "restored").Status.State != storagev1alpha1.VolumeStateAvailable {
		t.Error("the restored volume is no longer available")
	}
}

// The runtime's create takes effect but its answer is lost, and the poollet is stopped and
// started again while the volume is being created: in the end there is exactly one runtime
// volume, under the Volume's UID, and the Volume is Available.
func TestRestartCreatesNoSecondVolume(t *testing.T) {
	ns := unique("restart")
	createClass(t, "restart-fast", storagev1alpha1.ResizePolicyStatic, false)
	e := newEnv(t, ns, fake.Options{AvailableDelay: 300 * time.Millisecond})
	e.runtime.FailCalls("CreateVolume", 2, true, status.Error(codes.Unavailable, "connection lost"))
	stop := e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	v := createVolume(t, ns, "vol", "restart-fast", "1Gi", ns, nil)
	waitFor(t, "the runtime volume", func() bool { return len(e.runtimeVolumes()) > 0 })
	stop()
	for i := range 3 {
		stop = e.start()
		time.Sleep(time.Duration(50*i) * time.Millisecond)
		stop()
		if n := len(e.runtimeVolumes()); n > 1 {
			t.Fatalf("%d runtime volumes after restart %d", n, i)
		}
	}
	e.start()
	waitFor(t, "vol Available", available(t, ns, "vol"))
	rvs := e.runtimeVolumes()
	if len(rvs) != 1 || rvs[0].GetMetadata().GetId() != string(v.UID) {
		t.Fatalf("runtime volumes %v, want exactly one with ID %s", rvs, v.UID)
	}
}

// A runtime create that outlasts the runtime timeout (an encrypted volume's key derivation on
// a busy host) is not a failure: the Volume says Creating, no CreateFailed warning is
// recorded, and it becomes Available when the runtime has finished.
func TestSlowCreateIsNotAFailure(t *testing.T) {
	ns := unique("slow")
	createClass(t, "slow-create", storagev1alpha1.ResizePolicyStatic, true)
	e := newEnv(t, ns, fake.Options{AvailableDelay: 300 * time.Millisecond})
	// The create takes effect; the poollet sees what a call past its deadline returns.
	e.runtime.FailCalls("CreateVolume", 1, true, status.Error(codes.DeadlineExceeded, "context deadline exceeded"))
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watcher, err := server.Client.StorageV1alpha1().Volumes(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()
	createVolume(t, ns, "vol", "slow-create", "1Gi", ns, nil)
	var messages []string
	for event := range watcher.ResultChan() {
		v, ok := event.Object.(*storagev1alpha1.Volume)
		if !ok {
			continue
		}
		if c := meta.FindStatusCondition(v.Status.Conditions, volume.ConditionReady); c != nil {
			messages = append(messages, c.Reason+": "+c.Message)
		}
		if available(t, ns, "vol")() {
			break
		}
	}
	if !available(t, ns, "vol")() {
		t.Fatalf("vol not Available within 30 s; its Ready condition was %q", messages)
	}
	if !slices.ContainsFunc(messages, func(m string) bool {
		return strings.HasPrefix(m, volume.ReasonCreating+": the runtime did not finish creating volume")
	}) {
		t.Errorf("the Ready condition never said the create was still running: %q", messages)
	}
	for _, event := range e.events.Events() {
		if strings.Contains(event, "Warning") {
			t.Errorf("a slow create recorded a warning: %s", event)
		}
	}
	if n := len(e.runtimeVolumes()); n != 1 {
		t.Fatalf("%d runtime volumes, want 1", n)
	}
}

// Runtime volumes and snapshots labelled with API objects that do not exist are deleted (with
// the volume's passphrase Secret) while the poollet runs; runtime objects without the labels
// are kept.
func TestOrphanSweep(t *testing.T) {
	ns := unique("orphan")
	e := newEnv(t, ns, fake.Options{})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()
	create := func(id string, labels map[string]string) {
		if _, err := e.client.CreateVolume(ctx, &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: labels},
			Spec: &runtimev1alpha1.VolumeSpec{Class: "x", SizeBytes: 1 << 20,
				Encryption: &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	create("orphan-uid", map[string]string{volume.LabelVolumeUID: "orphan-uid", volume.LabelVolumeNamespace: ns, volume.LabelVolumeName: "gone"})
	create("hand-made", nil)
	if _, err := e.client.CreateSnapshot(ctx, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: "orphan-snap", Labels: map[string]string{volume.LabelSnapshotUID: "orphan-snap", volume.LabelSnapshotNamespace: ns, volume.LabelSnapshotName: "gone"}},
		Spec:     &runtimev1alpha1.SnapshotSpec{VolumeId: "hand-made"},
	}}); err != nil {
		t.Fatal(err)
	}
	passphrase := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ferrite-system", Name: "volume-orphan-uid"}}
	if err := e.secrets.Create(ctx, passphrase); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the orphans deleted", func() bool {
		rvs := e.runtimeVolumes()
		return len(rvs) == 1 && rvs[0].GetMetadata().GetId() == "hand-made" && len(e.runtimeSnapshots()) == 0 &&
			e.secret("ferrite-system", "volume-orphan-uid") == nil
	})
}
