package ceph

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

func TestEmptyVolume(t *testing.T) {
	e := newEnv(t)
	spec := &api.VolumeSpec{Class: "fast", SizeBytes: 10<<20 + 1, Tenant: "ns1", Qos: &api.QoS{IopsLimit: 500, BytesPerSecondLimit: 10 << 20}}
	v := e.create("v1", spec)
	if v.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE {
		t.Fatalf("state %s, want available", v.GetStatus().GetState())
	}
	if got := v.GetStatus().GetSizeBytes(); got != 11<<20 {
		t.Errorf("size %d, want %d (rounded up to MiB)", got, 11<<20)
	}
	name := e.p.names.volumeImage("v1")
	img := e.openAdmin(name)
	if size, _ := img.GetSize(); size != 11<<20 {
		t.Errorf("image size %d, want %d", size, 11<<20)
	}
	for key, want := range map[string]string{metaQoSIOPS: "500", metaQoSBPS: "10485760", metaState: stateAvailable} {
		if got, err := img.GetMetadata(key); err != nil || got != want {
			t.Errorf("metadata %s = %q (%v), want %q", key, got, err, want)
		}
	}
	a := v.GetStatus().GetAccess()
	if a.GetDriver() != "ceph" || a.GetHandle() != testPool+"/"+name || a.GetAttributes()["user"] != name ||
		a.GetAttributes()["monitors"] != "127.0.0.1:"+testMonV1Port || len(a.GetSecrets()["key"]) == 0 {
		t.Errorf("access %v", a)
	}

	// Idempotent: the same ID returns the volume and makes nothing.
	resp, err := e.p.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "v1"}, Spec: &api.VolumeSpec{Class: "x", SizeBytes: 1 << 30}}})
	if err != nil || resp.GetCreated() || resp.GetVolume().GetStatus().GetSizeBytes() != 11<<20 {
		t.Errorf("second create: %v created=%v", err, resp.GetCreated())
	}

	// Expand, and refuse a shrink.
	ex, err := e.p.ExpandVolume(context.Background(), &api.ExpandVolumeRequest{VolumeId: "v1", SizeBytes: 20 << 20})
	if err != nil || ex.GetVolume().GetStatus().GetSizeBytes() != 20<<20 {
		t.Fatalf("expand: %v %v", err, ex)
	}
	if size, _ := img.GetSize(); size != 20<<20 {
		t.Errorf("image size after expand %d", size)
	}
	_, err = e.p.ExpandVolume(context.Background(), &api.ExpandVolumeRequest{VolumeId: "v1", SizeBytes: 5 << 20})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("shrink: %v, want FAILED_PRECONDITION", err)
	}

	// The list after a restart is the same volume.
	e.restart()
	list, err := e.p.ListVolumes(context.Background(), &api.ListVolumesRequest{})
	if err != nil || len(list.GetVolumes()) != 1 {
		t.Fatalf("list after restart: %v %v", err, list)
	}
	got := list.GetVolumes()[0]
	if got.GetSpec().GetClass() != "fast" || got.GetMetadata().GetLabels()["test"] != t.Name() || got.GetStatus().GetSizeBytes() != 20<<20 ||
		!bytes.Equal(got.GetStatus().GetAccess().GetSecrets()["key"], a.GetSecrets()["key"]) {
		t.Errorf("after restart: %v", got)
	}

	// Delete removes image and user.
	img.Close()
	if _, err := e.p.DeleteVolume(context.Background(), &api.DeleteVolumeRequest{VolumeId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if names := e.imageNames(); len(names) != 0 {
		t.Errorf("images after delete: %v", names)
	}
	if key, _ := e.p.userKey("v1"); key != "" {
		t.Errorf("user of v1 still exists")
	}
	if resp, err := e.p.DeleteVolume(context.Background(), &api.DeleteVolumeRequest{VolumeId: "v1"}); err != nil || resp.GetVolume() != nil {
		t.Errorf("second delete: %v %v", err, resp)
	}
}

func TestPerVolumeCredentials(t *testing.T) {
	e := newEnv(t)
	ref := e.pushImage("creds", bytes.Repeat([]byte("image data "), 100000))
	v1 := e.create("c1", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20})
	v2 := e.create("c2", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20})
	v3 := e.create("c3", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}})
	for _, tc := range []struct {
		own, other *api.Volume
	}{{v1, v2}, {v3, v1}, {v1, v3}} {
		a := tc.own.GetStatus().GetAccess()
		user, key := a.GetAttributes()["user"], string(a.GetSecrets()["key"])
		img, done, err := e.openAs(user, key, a.GetAttributes()["image"])
		if err != nil {
			t.Fatalf("%s opening its own image: %v", user, err)
		}
		writeAt(t, img, 4096, []byte("mine"))
		if got := readAt(t, img, 4096, 4); string(got) != "mine" {
			t.Errorf("%s read back %q", user, got)
		}
		if tc.own == v3 {
			// A clone reads its parent's data.
			if got := readAt(t, img, 0, 11); string(got) != "image data " {
				t.Errorf("%s read %q from its parent", user, got)
			}
		}
		done()
		_, _, err = e.openAs(user, key, tc.other.GetStatus().GetAccess().GetAttributes()["image"])
		if !errors.Is(err, syscall.EPERM) && errno(err) != -int(syscall.EPERM) {
			t.Errorf("%s opening %s: %v, want EPERM", user, tc.other.GetMetadata().GetId(), err)
		}
	}
	// Nor can it open the base image by name.
	a := v3.GetStatus().GetAccess()
	if _, _, err := e.openAs(a.GetAttributes()["user"], string(a.GetSecrets()["key"]), e.imageNames()[0]); err == nil {
		t.Errorf("a volume's user opened the base image")
	}
}

// codeOf names the gRPC code of err.
func codeOf(err error) string { return status.Code(err).String() }
