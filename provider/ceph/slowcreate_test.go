package ceph

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// A create whose caller stops waiting (the poollet's runtime timeout) runs to its end: an
// encrypted volume from an image, whose import and copy take longer than the caller waits,
// becomes available without another call, and the next create of the ID answers with it.
// Before, the create was cancelled with its caller and every retry started it again.
func TestCreateOutlivesItsCaller(t *testing.T) {
	e := newEnv(t)
	disk := make([]byte, 32<<20)
	if _, err := rand.Read(disk); err != nil { // no zero runs for the copy to skip
		t.Fatal(err)
	}
	ref := e.pushImage("big", disk)
	client := e.serve() // through gRPC: the caller's deadline ends its call, not the handler
	spec := &api.VolumeSpec{Class: "c", SizeBytes: 64 << 20, Encryption: luksOn, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.CreateVolume(ctx, &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "slow"}, Spec: spec}})
	if codeOf(err) != "DeadlineExceeded" {
		t.Fatalf("the first create returned %v after %s, want DeadlineExceeded (the create must outlast 200 ms)", err, time.Since(start))
	}
	eventually(t, "the volume available without another create", func() bool {
		v := e.p.getVolume("slow")
		return v != nil && v.obj.GetStatus().GetState() == api.VolumeState_VOLUME_STATE_AVAILABLE
	})
	t.Logf("the create ran %s, its caller waited 200 ms", time.Since(start))
	resp, err := client.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "slow"}, Spec: spec}})
	if err != nil || resp.GetCreated() || resp.GetVolume().GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE {
		t.Fatalf("the next create: %v, %v", resp, err)
	}
	if names := e.imageNames(); len(names) != 2 {
		t.Errorf("images %v, want the base and one volume", names)
	}
}

// A caller waiting for a key held by a long call gives up with its context; the key is free
// again once the call ends, and nothing is left behind.
func TestLockContext(t *testing.T) {
	var k keyedMutex
	unlock := k.lock("v")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := k.lockContext(ctx, "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held key: %v, want the context's deadline", err)
	}
	unlock()
	again, err := k.lockContext(context.Background(), "v")
	if err != nil {
		t.Fatal(err)
	}
	again()
	done := make(chan struct{})
	go func() { k.waitIdle(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a key is still held after every caller unlocked or gave up")
	}
}

// A delete of a volume whose create runs on after its caller gave up stops that create at its
// next step instead of waiting for all of it, and nothing of the volume is left. (LUKS
// formatting is one librbd call that cannot be stopped; the copy after it is skipped.)
func TestDeleteStopsACreate(t *testing.T) {
	var mu sync.Mutex
	var steps []string
	e := newEnv(t, func(o *Options) {
		o.crashAfter = func(step string) error {
			mu.Lock()
			defer mu.Unlock()
			steps = append(steps, step)
			return nil
		}
	})
	disk := make([]byte, 32<<20)
	if _, err := rand.Read(disk); err != nil {
		t.Fatal(err)
	}
	ref := e.pushImage("big", disk)
	client := e.serve()
	spec := &api.VolumeSpec{Class: "c", SizeBytes: 64 << 20, Encryption: luksOn, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := client.CreateVolume(ctx, &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: "doomed"}, Spec: spec}}); codeOf(err) != "DeadlineExceeded" {
		t.Fatalf("the create returned %v, want DeadlineExceeded (it must outlast 200 ms)", err)
	}
	start := time.Now()
	if _, err := client.DeleteVolume(context.Background(), &api.DeleteVolumeRequest{VolumeId: "doomed"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the delete took %s", time.Since(start))
	mu.Lock()
	if slices.Contains(steps, "content") {
		t.Errorf("the create went on to its end (steps %v): the delete waited for it", steps)
	}
	mu.Unlock()
	eventually(t, "no volume left", func() bool {
		list, err := client.ListVolumes(context.Background(), &api.ListVolumesRequest{})
		return err == nil && len(list.GetVolumes()) == 0 && e.p.getVolume("doomed") == nil
	})
	for _, name := range e.imageNames() {
		if name == e.p.names.volumeImage("doomed") {
			t.Errorf("the volume's image %s is left", name)
		}
	}
}
