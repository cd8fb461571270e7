package ceph

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// serve serves the env's provider on a socket and returns a client.
func (e *testEnv) serve() api.VolumeRuntimeClient {
	e.t.Helper()
	e.p.Close()
	p, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	sock := filepath.Join(e.t.TempDir(), "volume.sock")
	stop, err := p.Serve(context.Background(), sock)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(stop)
	e.p = p
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	return api.NewVolumeRuntimeClient(cc)
}

func TestWatchAndCapacity(t *testing.T) {
	e := newEnv(t)
	c := e.serve()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := c.ListVolumes(ctx, &api.ListVolumesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Watch(ctx, &api.WatchRequest{FromRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.Status(ctx, &api.StatusRequest{Classes: []string{"fast", "slow"}})
	if err != nil {
		t.Fatal(err)
	}
	if before.GetPhysical().GetTotalBytes() == 0 || before.GetPhysical().GetAvailableBytes() == 0 {
		t.Fatalf("status %v", before)
	}

	if _, err := c.CreateVolume(ctx, &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "w1"}, Spec: &api.VolumeSpec{Class: "fast", SizeBytes: 16 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "w2"}, Spec: &api.VolumeSpec{Class: "slow", SizeBytes: 8 << 20}}}); err != nil {
		t.Fatal(err)
	}
	// Capacity: provisioned per class, physical use grows with the data written.
	img := e.openAdmin(e.p.names.volumeImage("w1"))
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	writeAt(t, img, 0, data)
	img.Close()
	var st *api.StatusResponse
	eventually(t, "the pool's usage to show the 8 MiB written", func() bool {
		st, err = c.Status(ctx, &api.StatusRequest{Classes: []string{"fast", "slow"}})
		return err == nil && st.GetPhysical().GetUsedBytes() >= before.GetPhysical().GetUsedBytes()+8<<20
	})
	if st.GetVolumeCount() != 2 || st.GetClasses()[0].GetProvisionedBytes() != 16<<20 || st.GetClasses()[0].GetVolumeCount() != 1 ||
		st.GetClasses()[1].GetProvisionedBytes() != 8<<20 {
		t.Errorf("status %v", st)
	}

	if _, err := c.ExpandVolume(ctx, &api.ExpandVolumeRequest{VolumeId: "w1", SizeBytes: 32 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: "w1"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	last := list.GetRevision()
	for len(got) < 4 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v (got %v)", err, got)
		}
		if resp.GetRevision() <= last {
			t.Errorf("revision %d after %d", resp.GetRevision(), last)
		}
		last = resp.GetRevision()
		if ch := resp.GetVolume(); ch != nil && ch.GetVolume().GetMetadata().GetId() == "w1" {
			got = append(got, ch.GetType().String()+"/"+ch.GetVolume().GetStatus().GetState().String())
		}
	}
	want := []string{"CHANGE_TYPE_ADDED/VOLUME_STATE_PENDING", "CHANGE_TYPE_MODIFIED/VOLUME_STATE_AVAILABLE",
		"CHANGE_TYPE_MODIFIED/VOLUME_STATE_AVAILABLE", "CHANGE_TYPE_DELETED/VOLUME_STATE_AVAILABLE"}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("change %d: %s, want %s (all: %v)", i, got[i], w, got)
		}
	}
	events, err := c.ListEvents(ctx, &api.ListEventsRequest{ObjectId: "w1"})
	if err != nil || len(events.GetEvents()) != 1 || events.GetEvents()[0].GetReason() != "Expanded" {
		t.Errorf("events %v %v", events, err)
	}
}
