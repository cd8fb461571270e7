package volume_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	brokervolume "github.com/ferrite-dev/ferrite/broker/volume"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

const gib = 1 << 30

// watchChanges watches rt from revision and hands every change to the returned channel.
func watchChanges(t *testing.T, rt runtimev1alpha1.VolumeRuntimeClient, revision uint64) <-chan *runtimev1alpha1.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := rt.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: revision})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *runtimev1alpha1.WatchResponse, 1000)
	go func() {
		defer close(out)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			out <- resp
		}
	}()
	return out
}

// awaitVolume reads changes until one of volume id satisfies cond, and returns it.
func awaitVolume(t *testing.T, changes <-chan *runtimev1alpha1.WatchResponse, id string, what string, cond func(*runtimev1alpha1.VolumeChange) bool) *runtimev1alpha1.VolumeChange {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				t.Fatalf("watch ended while waiting for %s", what)
			}
			if v := c.GetVolume(); v != nil && v.GetVolume().GetMetadata().GetId() == id && cond(v) {
				return v
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func lowerVolumes(t *testing.T, namespace, id string) []storagev1alpha1.Volume {
	t.Helper()
	list, err := lower.Client.StorageV1alpha1().Volumes(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: brokervolume.LabelID + "=" + id})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// The broker over a lower cluster with two selected pools (and one it does not serve): capacity
// sums the selected pools' allocatable; a volume becomes one lower Volume v-<id> (also when the
// create is retried), turns Available through the lower scheduler and volumepoollet, and passes
// its access and credentials up; it grows; snapshots are created, listed and deleted; deleting
// it removes the lower Volume; Watch reports all of it.
func TestBrokerLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := unique("bk")
	createClass(t, lower, "bk-enc", storagev1alpha1.ResizePolicyExpandOnly, true)
	createClass(t, lower, "bk-static", storagev1alpha1.ResizePolicyStatic, false)
	secrets := newSecrets()
	selector := map[string]string{"broker-test": ns}
	startLowerPool(t, ns+"-a", selector, 100*gib, secrets)
	startLowerPool(t, ns+"-b", selector, 50*gib, secrets)
	startLowerPool(t, ns+"-other", map[string]string{"broker-test": "other"}, 1000*gib, secrets)
	startScheduler(t, lower)
	rt, _ := startBroker(t, brokervolume.Options{Namespace: ns, VolumePoolSelector: selector, Classes: []string{"bk-enc", "bk-static"}, KeyNamespace: keyNamespace}, secrets)

	if v, err := rt.Version(ctx, &runtimev1alpha1.VersionRequest{Version: "v1alpha1"}); err != nil || v.GetRuntimeName() != brokervolume.RuntimeName {
		t.Fatalf("Version: %v, %v", v, err)
	}

	// Capacity: the two selected pools' allocatable, summed; an unexposed class has none.
	var st *runtimev1alpha1.StatusResponse
	waitFor(t, "capacity of both selected pools", func() bool {
		var err error
		st, err = rt.Status(ctx, &runtimev1alpha1.StatusRequest{Classes: []string{"bk-enc", "bk-unexposed"}})
		return err == nil && st.GetClasses()[0].GetPhysical().GetTotalBytes() == 150*gib
	})
	if c := st.GetClasses()[1]; c.GetName() != "bk-unexposed" || c.GetPhysical().GetTotalBytes() != 0 {
		t.Errorf("unexposed class: %v", c)
	}

	list, err := rt.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{})
	if err != nil || len(list.GetVolumes()) != 0 {
		t.Fatalf("ListVolumes: %v, %v", list, err)
	}
	changes := watchChanges(t, rt, list.GetRevision())

	id := unique("0d1c5f0e-vol")
	req := &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{"volumepoollet.ferrite.dev/volume-uid": id}},
		Spec: &runtimev1alpha1.VolumeSpec{Class: "bk-enc", SizeBytes: gib, Tenant: "tenant-a",
			Encryption: &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}},
	}}
	created, err := rt.CreateVolume(ctx, req)
	if err != nil || !created.GetCreated() || created.GetVolume().GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_PENDING {
		t.Fatalf("CreateVolume: %v, %v", created, err)
	}
	again, err := rt.CreateVolume(ctx, req)
	if err != nil || again.GetCreated() {
		t.Fatalf("retried CreateVolume: %v, %v", again, err)
	}
	lvs := lowerVolumes(t, ns, id)
	if len(lvs) != 1 || lvs[0].Name != "v-"+id || lvs[0].Spec.VolumePoolSelector["broker-test"] != ns || lvs[0].Spec.VolumeClassRef.Name != "bk-enc" {
		t.Fatalf("lower volumes %+v", lvs)
	}

	available := awaitVolume(t, changes, id, "the volume Available", func(c *runtimev1alpha1.VolumeChange) bool {
		return c.GetVolume().GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE
	}).GetVolume()
	lv := lowerVolumes(t, ns, id)[0]
	access := available.GetStatus().GetAccess()
	if access.GetDriver() != lv.Status.Access.Driver || access.GetHandle() != lv.Status.Access.Handle || access.GetHandle() == "" ||
		access.GetAttributes()["encryptionSecret"] != "" || access.GetAttributes()["monitors"] == "" ||
		available.GetStatus().GetEncryption() != runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2 {
		t.Fatalf("access %v of lower access %+v", access, lv.Status.Access)
	}
	key := secretData(t, secrets, ns, lv.Status.Access.SecretRef.Name)["key"]
	passphrase := secretData(t, secrets, keyNamespace, "volume-"+string(lv.UID))["passphrase"]
	if len(key) == 0 || string(access.GetSecrets()["key"]) != string(key) || len(passphrase) == 0 || string(access.GetSecrets()["passphrase"]) != string(passphrase) {
		t.Fatalf("secrets %v, want key %q and passphrase %q", access.GetSecrets(), key, passphrase)
	}
	if available.GetMetadata().GetLabels()["volumepoollet.ferrite.dev/volume-uid"] != id || available.GetSpec().GetTenant() != "tenant-a" || available.GetStatus().GetSizeBytes() != gib {
		t.Fatalf("volume %v", available)
	}
	byLabel, err := rt.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{LabelSelector: map[string]string{"volumepoollet.ferrite.dev/volume-uid": id}}})
	if err != nil || len(byLabel.GetVolumes()) != 1 || byLabel.GetVolumes()[0].GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		t.Fatalf("ListVolumes by label: %v, %v", byLabel, err)
	}

	// Refusals: an unexposed class, encryption the lower class lacks, a shrink.
	for _, spec := range []*runtimev1alpha1.VolumeSpec{
		{Class: "bk-unexposed", SizeBytes: gib},
		{Class: "bk-static", SizeBytes: gib, Encryption: &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}},
	} {
		_, err := rt.CreateVolume(ctx, &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{Metadata: &runtimev1alpha1.ObjectMetadata{Id: unique("refused")}, Spec: spec}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("create %v: %v, want FailedPrecondition", spec, err)
		}
	}
	if _, err := rt.ExpandVolume(ctx, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: id, SizeBytes: gib / 2}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("shrink: %v, want FailedPrecondition", err)
	}

	// Growth: the lower Volume grows and the lower runtime volume with it.
	grown, err := rt.ExpandVolume(ctx, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: id, SizeBytes: 2 * gib})
	if err != nil || grown.GetVolume().GetStatus().GetSizeBytes() != 2*gib {
		t.Fatalf("ExpandVolume: %v, %v", grown, err)
	}
	if q := lowerVolumes(t, ns, id)[0].Spec.Resources.Storage(); q.Value() != 2*gib {
		t.Errorf("lower storage %s", q)
	}

	// Snapshots.
	snapID := unique("5e1f-snap")
	snap, err := rt.CreateSnapshot(ctx, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: snapID}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: id}}})
	if err != nil || !snap.GetCreated() || snap.GetSnapshot().GetSpec().GetVolumeId() != id {
		t.Fatalf("CreateSnapshot: %v, %v", snap, err)
	}
	if _, err := lower.Client.StorageV1alpha1().VolumeSnapshots(ns).Get(ctx, "s-"+snapID, metav1.GetOptions{}); err != nil {
		t.Fatalf("lower snapshot: %v", err)
	}
	waitFor(t, "the snapshot Ready with its size", func() bool {
		l, err := rt.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: snapID}})
		return err == nil && len(l.GetSnapshots()) == 1 && l.GetSnapshots()[0].GetStatus().GetState() == runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY &&
			l.GetSnapshots()[0].GetStatus().GetSizeBytes() == 2*gib
	})
	if _, err := rt.CreateSnapshot(ctx, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: unique("nosuch-snap")}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: "no-such-volume"}}}); status.Code(err) != codes.NotFound {
		t.Errorf("snapshot of a missing volume: %v, want NotFound", err)
	}
	// A volume restored from the snapshot: the lower Volume names the lower VolumeSnapshot.
	restoredID := unique("7a2b-restored")
	restored, err := rt.CreateVolume(ctx, &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: restoredID},
		Spec: &runtimev1alpha1.VolumeSpec{Class: "bk-enc", SizeBytes: 2 * gib,
			Source: &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: snapID}}}}})
	if err != nil || restored.GetVolume().GetSpec().GetSnapshot().GetSnapshotId() != snapID {
		t.Fatalf("restore: %v, %v", restored, err)
	}
	if lvs := lowerVolumes(t, ns, restoredID); len(lvs) != 1 || lvs[0].Spec.SnapshotRef == nil || lvs[0].Spec.SnapshotRef.Name != "s-"+snapID {
		t.Fatalf("restored lower volume %+v", lvs)
	}
	awaitVolume(t, changes, restoredID, "the restored volume Available", func(c *runtimev1alpha1.VolumeChange) bool {
		return c.GetVolume().GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE
	})
	if _, err := rt.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: restoredID}); err != nil {
		t.Fatal(err)
	}
	awaitVolume(t, changes, restoredID, "the restored volume DELETED", func(c *runtimev1alpha1.VolumeChange) bool {
		return c.GetType() == runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED
	})

	if _, err := rt.DeleteSnapshot(ctx, &runtimev1alpha1.DeleteSnapshotRequest{SnapshotId: snapID}); err != nil {
		t.Fatalf("DeleteSnapshot: %v", err)
	}
	if l, err := rt.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{}); err != nil || len(l.GetSnapshots()) != 0 {
		t.Fatalf("snapshots after delete: %v, %v", l, err)
	}
	if _, err := lower.Client.StorageV1alpha1().VolumeSnapshots(ns).Get(ctx, "s-"+snapID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lower snapshot after delete: %v", err)
	}

	// Provisioned bytes count the broker's volume.
	st, err = rt.Status(ctx, &runtimev1alpha1.StatusRequest{Classes: []string{"bk-enc"}})
	if err != nil || st.GetClasses()[0].GetProvisionedBytes() != 2*gib || st.GetClasses()[0].GetVolumeCount() != 1 || st.GetVolumeCount() != 1 {
		t.Errorf("Status: %v, %v", st, err)
	}

	// Delete: TERMINATING, then gone below and DELETED in the watch.
	del, err := rt.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: id})
	if err != nil || del.GetVolume().GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING {
		t.Fatalf("DeleteVolume: %v, %v", del, err)
	}
	awaitVolume(t, changes, id, "the volume DELETED", func(c *runtimev1alpha1.VolumeChange) bool {
		return c.GetType() == runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED
	})
	if lvs := lowerVolumes(t, ns, id); len(lvs) != 0 {
		t.Errorf("lower volumes after delete: %d", len(lvs))
	}
	if del, err := rt.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: id}); err != nil || del.GetVolume() != nil {
		t.Errorf("repeated DeleteVolume: %v, %v", del, err)
	}
}

// Two levels: an upper cluster's unchanged scheduler and volumepoollet over the broker. An upper
// Volume becomes Available with the lower Volume's access and credentials, and deleting it
// deletes the lower Volume.
func TestUpperVolumepoollet(t *testing.T) {
	ctx := context.Background()
	upper := testserver.Start(t)
	ns := unique("up")
	createClass(t, lower, "up-fast", storagev1alpha1.ResizePolicyExpandOnly, false)
	createClass(t, upper, "up-fast", storagev1alpha1.ResizePolicyExpandOnly, false)
	lowerSecrets, upperSecrets := newSecrets(), newSecrets()
	selector := map[string]string{"broker-test": ns}
	startLowerPool(t, ns+"-lower", selector, 100*gib, lowerSecrets)
	startScheduler(t, lower)
	_, endpoint := startBroker(t, brokervolume.Options{Namespace: ns, VolumePoolSelector: selector, KeyNamespace: keyNamespace}, lowerSecrets)
	startVolumepoollet(t, upper, endpoint, volume.Options{PoolName: ns + "-upper", ProviderID: "broker://" + ns}, upperSecrets)
	startScheduler(t, upper)

	waitFor(t, "the upper pool with the lower pool's allocatable", func() bool {
		p, err := upper.Client.StorageV1alpha1().VolumePools().Get(ctx, ns+"-upper", metav1.GetOptions{})
		return err == nil && p.Status.Allocatable.Name("up-fast", resource.BinarySI).Value() == 100*gib
	})
	v := &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "up-fast"},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}
	v, err := upper.Client.StorageV1alpha1().Volumes(ns).Create(ctx, v, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var uv *storagev1alpha1.Volume
	waitFor(t, "the upper Volume Available", func() bool {
		uv, err = upper.Client.StorageV1alpha1().Volumes(ns).Get(ctx, "data", metav1.GetOptions{})
		return err == nil && uv.Status.State == storagev1alpha1.VolumeStateAvailable && uv.Status.Access != nil
	})
	lvs := lowerVolumes(t, ns, string(v.UID))
	if len(lvs) != 1 || lvs[0].Name != "v-"+string(v.UID) || lvs[0].Status.Access == nil {
		t.Fatalf("lower volumes %+v", lvs)
	}
	la, ua := lvs[0].Status.Access, uv.Status.Access
	if ua.Driver != la.Driver || ua.Handle != la.Handle || ua.SecretRef == nil {
		t.Fatalf("upper access %+v, lower %+v", ua, la)
	}
	lowerKey := secretData(t, lowerSecrets, ns, la.SecretRef.Name)["key"]
	if upperKey := secretData(t, upperSecrets, ns, ua.SecretRef.Name)["key"]; len(lowerKey) == 0 || string(upperKey) != string(lowerKey) {
		t.Fatalf("upper key %q, lower key %q", upperKey, lowerKey)
	}
	if err := upper.Client.StorageV1alpha1().Volumes(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lower Volume gone", func() bool { return len(lowerVolumes(t, ns, string(v.UID))) == 0 })
	waitFor(t, "the upper Volume gone", func() bool {
		_, err := upper.Client.StorageV1alpha1().Volumes(ns).Get(ctx, "data", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// A restarted broker knows the volumes of the one before: a create retried against it makes no
// second lower Volume, its list shows the volume Available, and a watch from the old broker's
// revision is told RevisionTooOld.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	ns := unique("rs")
	createClass(t, lower, "bk-static", storagev1alpha1.ResizePolicyStatic, false)
	secrets := newSecrets()
	selector := map[string]string{"broker-test": ns}
	startLowerPool(t, ns, selector, 100*gib, secrets)
	startScheduler(t, lower)
	opts := brokervolume.Options{Namespace: ns, VolumePoolSelector: selector, KeyNamespace: keyNamespace}
	first, _ := startBroker(t, opts, secrets)
	id := unique("9c0e-vol")
	req := &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: &runtimev1alpha1.VolumeSpec{Class: "bk-static", SizeBytes: gib}}}
	if _, err := first.CreateVolume(ctx, req); err != nil {
		t.Fatal(err)
	}
	old, err := first.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{})
	if err != nil {
		t.Fatal(err)
	}

	second, _ := startBroker(t, opts, secrets)
	again, err := second.CreateVolume(ctx, req)
	if err != nil || again.GetCreated() {
		t.Fatalf("create on the restarted broker: %v, %v", again, err)
	}
	if n := len(lowerVolumes(t, ns, id)); n != 1 {
		t.Fatalf("%d lower volumes", n)
	}
	waitFor(t, "the volume Available on the restarted broker", func() bool {
		l, err := second.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: id}})
		return err == nil && len(l.GetVolumes()) == 1 && l.GetVolumes()[0].GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE &&
			len(l.GetVolumes()[0].GetStatus().GetAccess().GetSecrets()["key"]) > 0
	})
	stream, err := second.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: old.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("watch from the old broker's revision: want RevisionTooOld")
	} else if _, ok := runtimev1alpha1.AsRevisionTooOld(err); !ok {
		t.Fatalf("watch from the old broker's revision: %v, want RevisionTooOld", err)
	}
	if _, err := second.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lower Volume gone", func() bool { return len(lowerVolumes(t, ns, id)) == 0 })
}
