package ceph

import (
	"bytes"
	"context"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

func TestVolumeFromImage(t *testing.T) {
	e := newEnv(t)
	disk := make([]byte, 6<<20+512)
	copy(disk, "boot sector")
	copy(disk[5<<20:], "late data")
	ref := e.pushImage("guest", disk)
	v := e.create("i1", &api.VolumeSpec{Class: "c", SizeBytes: 16 << 20, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}})
	if v.GetStatus().GetImageDigest() == "" || v.GetStatus().GetSizeBytes() != 16<<20 {
		t.Fatalf("status %v", v.GetStatus())
	}
	img := e.openAdmin(e.p.names.volumeImage("i1"))
	parent, err := img.GetParent()
	if err != nil {
		t.Fatalf("parent: %v", err)
	}
	if parent.Image.ImageName != e.p.names.baseImage(v.GetStatus().GetImageDigest()[len("sha256:"):]) || parent.Snap.SnapName != baseSnapshot {
		t.Errorf("parent %+v", parent)
	}
	if got := readAt(t, img, 0, len(disk)); !bytes.Equal(got, disk) {
		t.Errorf("the volume's content differs from the image's root disk")
	}
	if got := readAt(t, img, int64(len(disk)), 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Errorf("the grown part is not zero")
	}
	// A second volume of the image clones the same base: one import.
	e.create("i2", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}})
	if names := e.imageNames(); len(names) != 3 {
		t.Errorf("images %v, want one base and two volumes", names)
	}
	// Smaller than the disk: refused, nothing made.
	_, err = e.p.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{
		Metadata: &api.ObjectMetadata{Id: "i3"},
		Spec:     &api.VolumeSpec{Class: "c", SizeBytes: 4 << 20, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}},
	}})
	if codeOf(err) != "FailedPrecondition" {
		t.Errorf("too small: %v", err)
	}
}

func TestSnapshotRestoreDelete(t *testing.T) {
	e := newEnv(t)
	e.create("s1", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20})
	src := e.openAdmin(e.p.names.volumeImage("s1"))
	writeAt(t, src, 1<<20, []byte("marker before snapshot"))
	snap := e.snapshot("snap1", "s1")
	if snap.GetStatus().GetState() != api.SnapshotState_SNAPSHOT_STATE_READY || snap.GetStatus().GetSizeBytes() != 8<<20 {
		t.Fatalf("snapshot %v", snap)
	}
	writeAt(t, src, 1<<20, []byte("changed after snapshot"))

	r := e.create("r1", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20, Source: &api.VolumeSpec_Snapshot{Snapshot: &api.SnapshotSource{SnapshotId: "snap1"}}})
	if r.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE {
		t.Fatalf("restored %v", r.GetStatus())
	}
	restored := e.openAdmin(e.p.names.volumeImage("r1"))
	if got := readAt(t, restored, 1<<20, 22); string(got) != "marker before snapshot" {
		t.Errorf("restored volume reads %q", got)
	}
	// Its own user reads it too (through the parent's data).
	a := r.GetStatus().GetAccess()
	img, done, err := e.openAs(a.GetAttributes()["user"], string(a.GetSecrets()["key"]), a.GetAttributes()["image"])
	if err != nil {
		t.Fatalf("restored volume's user: %v", err)
	}
	if got := readAt(t, img, 1<<20, 22); string(got) != "marker before snapshot" {
		t.Errorf("restored volume's user reads %q", got)
	}
	done()

	// Delete the source: its image stays hidden for the snapshot.
	src.Close()
	if _, err := e.p.DeleteVolume(context.Background(), &api.DeleteVolumeRequest{VolumeId: "s1"}); err != nil {
		t.Fatal(err)
	}
	list, _ := e.p.ListVolumes(context.Background(), &api.ListVolumesRequest{})
	if len(list.GetVolumes()) != 1 || list.GetVolumes()[0].GetMetadata().GetId() != "r1" {
		t.Errorf("volumes after deleting s1: %v", list.GetVolumes())
	}
	snaps, _ := e.p.ListSnapshots(context.Background(), &api.ListSnapshotsRequest{})
	if len(snaps.GetSnapshots()) != 1 {
		t.Fatalf("snapshots after deleting s1: %v", snaps.GetSnapshots())
	}
	if got := readAt(t, restored, 1<<20, 22); string(got) != "marker before snapshot" {
		t.Errorf("restored volume after its source's delete reads %q", got)
	}
	// The snapshot still restores, also after a restart.
	e.restart()
	e.create("r2", &api.VolumeSpec{Class: "c", SizeBytes: 16 << 20, Source: &api.VolumeSpec_Snapshot{Snapshot: &api.SnapshotSource{SnapshotId: "snap1"}}})
	r2 := e.openAdmin(e.p.names.volumeImage("r2"))
	if got := readAt(t, r2, 1<<20, 22); string(got) != "marker before snapshot" {
		t.Errorf("second restore reads %q", got)
	}
	// Deleting the snapshot flattens the restores and removes the hidden image.
	if _, err := e.p.DeleteSnapshot(context.Background(), &api.DeleteSnapshotRequest{SnapshotId: "snap1"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r1", "r2"} {
		img := e.openAdmin(e.p.names.volumeImage(id))
		if _, err := img.GetParent(); !isNotFound(err) {
			t.Errorf("%s still has a parent (%v)", id, err)
		}
		if got := readAt(t, img, 1<<20, 22); string(got) != "marker before snapshot" {
			t.Errorf("%s after the snapshot's delete reads %q", id, got)
		}
	}
	if _, err := rbd.OpenImage(e.ioctx, e.p.names.volumeImage("s1"), rbd.NoSnapshot); !isNotFound(err) {
		t.Errorf("the hidden image of s1 is still there (%v)", err)
	}
	events, _ := e.p.ListEvents(context.Background(), &api.ListEventsRequest{ObjectId: "r1"})
	if len(events.GetEvents()) == 0 || events.GetEvents()[0].GetReason() != "Flattened" {
		t.Errorf("events of r1: %v", events.GetEvents())
	}
}
