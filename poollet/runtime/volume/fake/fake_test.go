package fake_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// start serves a fake on a unix socket and returns it with a client.
func start(t *testing.T, opts fake.Options) (*fake.Server, runtimev1alpha1.VolumeRuntimeClient) {
	t.Helper()
	server := fake.New(opts)
	path := filepath.Join(t.TempDir(), "volume.sock")
	stop, err := server.Serve(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return server, runtimev1alpha1.NewVolumeRuntimeClient(conn)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func newVolume(id string, size uint64) *runtimev1alpha1.Volume {
	return &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{"volume-uid": id}},
		Spec:     &runtimev1alpha1.VolumeSpec{Class: "fast", SizeBytes: size, Tenant: "default"},
	}
}

func expectCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestCreateIdempotentExpandDelete(t *testing.T) {
	_, client := start(t, fake.Options{InitialRevision: 50})
	c := ctx(t)
	resp, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("v1", 1<<30+1)})
	if err != nil || !resp.GetCreated() {
		t.Fatalf("create: %v %v", resp, err)
	}
	v := resp.GetVolume()
	if v.GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE || v.GetStatus().GetSizeBytes() != 1<<30+1<<20 {
		t.Fatalf("volume status %v: want available, rounded up to a whole MiB", v.GetStatus())
	}
	access := v.GetStatus().GetAccess()
	if access.GetDriver() != "ceph" || access.GetHandle() != "fake/ferrite-volume-v1" || len(access.GetSecrets()["key"]) == 0 || access.GetSecrets()["passphrase"] != nil {
		t.Fatalf("access %v", access)
	}
	// The same ID again returns the same volume, whatever the spec.
	again, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("v1", 5<<30)})
	if err != nil || again.GetCreated() || again.GetVolume().GetStatus().GetSizeBytes() != v.GetStatus().GetSizeBytes() || string(again.GetVolume().GetStatus().GetAccess().GetSecrets()["key"]) != string(access.GetSecrets()["key"]) {
		t.Fatalf("second create: %v %v", again, err)
	}

	_, err = client.ExpandVolume(c, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: "v1", SizeBytes: 1 << 30})
	expectCode(t, err, codes.FailedPrecondition)
	same, err := client.ExpandVolume(c, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: "v1", SizeBytes: 1<<30 + 1<<20})
	if err != nil || same.GetVolume().GetMetadata().GetRevision() != v.GetMetadata().GetRevision() {
		t.Fatalf("expand to the current size changed the volume: %v %v", same, err)
	}
	grown, err := client.ExpandVolume(c, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: "v1", SizeBytes: 2 << 30})
	if err != nil || grown.GetVolume().GetStatus().GetSizeBytes() != 2<<30 || grown.GetVolume().GetMetadata().GetRevision() <= v.GetMetadata().GetRevision() {
		t.Fatalf("expand: %v %v", grown, err)
	}
	_, err = client.ExpandVolume(c, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: "nope", SizeBytes: 1})
	expectCode(t, err, codes.NotFound)

	del, err := client.DeleteVolume(c, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: "v1"})
	if err != nil || del.GetVolume().GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING {
		t.Fatalf("delete: %v %v", del, err)
	}
	del, err = client.DeleteVolume(c, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: "v1"})
	if err != nil || del.GetVolume() != nil {
		t.Fatalf("second delete: %v %v", del, err)
	}
	list, err := client.ListVolumes(c, &runtimev1alpha1.ListVolumesRequest{})
	if err != nil || len(list.GetVolumes()) != 0 || list.GetRevision() <= 50 {
		t.Fatalf("list after delete: %v %v", list, err)
	}
	_, err = client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("bad id", 1)})
	expectCode(t, err, codes.InvalidArgument)
}

func TestSnapshotRestoreEncryption(t *testing.T) {
	server, client := start(t, fake.Options{})
	c := ctx(t)
	enc := newVolume("enc", 1<<30)
	enc.Spec.Encryption = &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}
	created, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: enc})
	if err != nil {
		t.Fatal(err)
	}
	pass := created.GetVolume().GetStatus().GetAccess().GetSecrets()["passphrase"]
	if len(pass) == 0 || created.GetVolume().GetStatus().GetAccess().GetAttributes()["encryption"] != "luks2" {
		t.Fatalf("encrypted volume access: %v", created.GetVolume().GetStatus().GetAccess())
	}
	snap := &runtimev1alpha1.Snapshot{Metadata: &runtimev1alpha1.ObjectMetadata{Id: "s1"}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: "enc"}}
	sresp, err := client.CreateSnapshot(c, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: snap})
	if err != nil || !sresp.GetCreated() || sresp.GetSnapshot().GetStatus().GetState() != runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY || sresp.GetSnapshot().GetStatus().GetSizeBytes() != 1<<30 {
		t.Fatalf("snapshot: %v %v", sresp, err)
	}
	if again, err := client.CreateSnapshot(c, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: snap}); err != nil || again.GetCreated() {
		t.Fatalf("second snapshot create: %v %v", again, err)
	}
	_, err = client.CreateSnapshot(c, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{Metadata: &runtimev1alpha1.ObjectMetadata{Id: "s2"}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: "nope"}}})
	expectCode(t, err, codes.NotFound)

	// The source volume goes; its snapshot stays usable.
	if _, err := client.DeleteVolume(c, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: "enc"}); err != nil {
		t.Fatal(err)
	}
	small := newVolume("small", 1<<20)
	small.Spec.Source = &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: "s1"}}
	_, err = client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: small})
	expectCode(t, err, codes.FailedPrecondition)
	restored := newVolume("restored", 2<<30)
	restored.Spec.Source = &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: "s1"}}
	rresp, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: restored})
	if err != nil || rresp.GetVolume().GetStatus().GetEncryption() != runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2 || string(rresp.GetVolume().GetStatus().GetAccess().GetSecrets()["passphrase"]) != string(pass) {
		t.Fatalf("restored volume keeps the passphrase: %v %v", rresp, err)
	}
	if got, _ := server.Passphrase("restored"); string(got) != string(pass) {
		t.Fatalf("provider passphrase %q", got)
	}
	if _, err := client.DeleteSnapshot(c, &runtimev1alpha1.DeleteSnapshotRequest{SnapshotId: "s1"}); err != nil {
		t.Fatal(err)
	}
	if list, err := client.ListSnapshots(c, &runtimev1alpha1.ListSnapshotsRequest{}); err != nil || len(list.GetSnapshots()) != 0 {
		t.Fatalf("snapshots after delete: %v %v", list, err)
	}
	if list, err := client.ListVolumes(c, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{LabelSelector: map[string]string{"volume-uid": "restored"}}}); err != nil || len(list.GetVolumes()) != 1 {
		t.Fatalf("restored volume after its snapshot went: %v %v", list, err)
	}
}

func TestImagesPendingAndWatch(t *testing.T) {
	server, client := start(t, fake.Options{
		AvailableDelay: 50 * time.Millisecond,
		Images:         map[string]fake.Image{"registry/os:1": {Digest: "sha256:abc", SizeBytes: 2 << 30}},
	})
	c := ctx(t)
	list, err := client.ListVolumes(c, &runtimev1alpha1.ListVolumesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := client.Watch(c, &runtimev1alpha1.WatchRequest{FromRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	img := newVolume("img", 1<<30)
	img.Spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{Image: "registry/os:1"}}
	_, err = client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: img})
	expectCode(t, err, codes.FailedPrecondition) // smaller than the image
	img.Spec.SizeBytes = 4 << 30
	img.Spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{Image: "registry/other:1"}}
	_, err = client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: img})
	expectCode(t, err, codes.NotFound)
	img.Spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{Image: "registry/os:1"}}
	resp, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: img})
	if err != nil || resp.GetVolume().GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_PENDING || resp.GetVolume().GetStatus().GetReason() != "ImageImporting" {
		t.Fatalf("create from image: %v %v", resp, err)
	}
	// Watch: ADDED (pending), MODIFIED (available), then the events, in revision order.
	var last uint64
	var states []runtimev1alpha1.VolumeState
	var reasons []string
	for len(reasons) < 2 {
		change, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if change.GetRevision() <= last {
			t.Fatalf("revision %d after %d", change.GetRevision(), last)
		}
		last = change.GetRevision()
		if v := change.GetVolume(); v != nil {
			states = append(states, v.GetVolume().GetStatus().GetState())
		}
		if ev := change.GetEvent(); ev != nil {
			reasons = append(reasons, ev.GetReason())
		}
	}
	if len(states) != 2 || states[1] != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE || reasons[0] != "ImageImported" {
		t.Fatalf("states %v, events %v", states, reasons)
	}
	got, err := client.ListVolumes(c, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: "img"}})
	if err != nil || got.GetVolumes()[0].GetStatus().GetImageDigest() != "sha256:abc" {
		t.Fatalf("image digest: %v %v", got, err)
	}
	if err := server.FailVolume("img", "Broken", "the disk broke"); err != nil {
		t.Fatal(err)
	}
	events, err := client.ListEvents(c, &runtimev1alpha1.ListEventsRequest{ObjectId: "img", AfterRevision: last})
	if err != nil || len(events.GetEvents()) != 1 || events.GetEvents()[0].GetType() != runtimev1alpha1.EventType_EVENT_TYPE_WARNING {
		t.Fatalf("events: %v %v", events, err)
	}
}

func TestCapacityAndInjectedFailures(t *testing.T) {
	server, client := start(t, fake.Options{TotalBytes: 100 << 30, UsedBytes: 10 << 30, ProvisionLimitBytes: 3 << 30})
	c := ctx(t)
	for _, id := range []string{"a", "b"} {
		if _, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume(id, 1<<30)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("c", 2<<30)})
	expectCode(t, err, codes.ResourceExhausted)
	_, err = client.ExpandVolume(c, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: "a", SizeBytes: 3 << 30})
	expectCode(t, err, codes.ResourceExhausted)

	st, err := client.Status(c, &runtimev1alpha1.StatusRequest{Classes: []string{"fast", "slow"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := st.GetPhysical(); p.GetTotalBytes() != 100<<30 || p.GetUsedBytes() != 10<<30 || p.GetAvailableBytes() != 90<<30 {
		t.Fatalf("physical %v", p)
	}
	if fast, slow := st.GetClasses()[0], st.GetClasses()[1]; fast.GetProvisionedBytes() != 2<<30 || fast.GetVolumeCount() != 2 || slow.GetProvisionedBytes() != 0 || st.GetVolumeCount() != 2 {
		t.Fatalf("classes %v", st.GetClasses())
	}

	// A create whose response is lost took effect: the retry finds it and creates nothing.
	server.FailCalls("CreateVolume", 1, true, status.Error(codes.Unavailable, "connection lost"))
	_, err = client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("d", 1<<20)})
	expectCode(t, err, codes.Unavailable)
	retry, err := client.CreateVolume(c, &runtimev1alpha1.CreateVolumeRequest{Volume: newVolume("d", 1<<20)})
	if err != nil || retry.GetCreated() || server.VolumeCount() != 3 {
		t.Fatalf("retry after a lost response: %v %v (%d volumes)", retry, err, server.VolumeCount())
	}
	// A failure before the call changes nothing.
	server.FailCalls("DeleteVolume", 1, false, errors.New("boom"))
	if _, err := client.DeleteVolume(c, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: "d"}); err == nil || server.VolumeCount() != 3 {
		t.Fatalf("injected delete failure: %v (%d volumes)", err, server.VolumeCount())
	}
}
