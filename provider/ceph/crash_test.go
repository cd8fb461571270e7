package ceph

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

var errCrash = errors.New("simulated crash")

// TestCreateCrash stops a create after each of its steps, as a killed provider would, and
// retries it: with a new provider (which cleans up at start) or with the same one. Each time
// exactly one image is left, available and whole.
func TestCreateCrash(t *testing.T) {
	e := newEnv(t)
	disk := make([]byte, 2<<20)
	copy(disk, "crash test disk")
	ref := e.pushImage("crash", disk)
	specs := map[string]func(ref string) *api.VolumeSpec{
		"empty": func(string) *api.VolumeSpec { return &api.VolumeSpec{Class: "c", SizeBytes: 4 << 20} },
		"image": func(ref string) *api.VolumeSpec {
			return &api.VolumeSpec{Class: "c", SizeBytes: 4 << 20, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}}
		},
		"enc": func(ref string) *api.VolumeSpec {
			return &api.VolumeSpec{Class: "c", SizeBytes: 4 << 20, Encryption: luksOn, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}}
		},
	}
	// Each step of each kind once, retried either by a new provider or by the same one,
	// alternating, so that both retries meet every step across the kinds and the test stays
	// within a minute or two.
	alternate := 0
	for _, kind := range slices.Sorted(maps.Keys(specs)) {
		specOf := specs[kind]
		for _, step := range []string{"import", "created", "metadata", "content", "qos", "user"} {
			if step == "import" && kind == "empty" {
				continue
			}
			alternate++
			for _, restart := range []bool{alternate%2 == 0} {
				id := fmt.Sprintf("%s-%s-%v", kind, step, restart)
				spec := specOf(ref)
				if step == "import" {
					// An image of its own, so that this create imports it.
					fresh := append([]byte(nil), disk...)
					copy(fresh[1<<20:], id)
					spec = specOf(e.pushImage(id, fresh))
				}
				crashAt := step
				e.p.opts.crashAfter = func(s string) error {
					if s == crashAt {
						return errCrash
					}
					return nil
				}
				_, err := e.p.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: id}, Spec: spec}})
				if !errors.Is(err, errCrash) {
					t.Fatalf("%s: create: %v, want the crash", id, err)
				}
				if list, _ := e.p.ListVolumes(context.Background(), &api.ListVolumesRequest{Filter: &api.ObjectFilter{Id: id}}); len(list.GetVolumes()) == 1 &&
					list.GetVolumes()[0].GetStatus().GetState() == api.VolumeState_VOLUME_STATE_AVAILABLE {
					t.Errorf("%s: a half-made volume is listed as available", id)
				}
				if restart {
					e.restart()
				} else {
					e.p.opts.crashAfter = nil
				}
				resp, err := e.p.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{Metadata: &api.ObjectMetadata{Id: id}, Spec: spec}})
				if err != nil {
					t.Fatalf("%s: retry: %v", id, err)
				}
				v := resp.GetVolume()
				if v.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE || v.GetStatus().GetSizeBytes() != 4<<20 {
					t.Errorf("%s: after the retry: %v", id, v.GetStatus())
				}
				img := e.openAdmin(e.p.names.volumeImage(id))
				if spec.GetEncryption() != nil {
					if err := img.EncryptionLoad(luks2(v.GetStatus().GetAccess().GetSecrets()["passphrase"])); err != nil {
						t.Fatalf("%s: %v", id, err)
					}
				}
				if spec.GetSource() != nil {
					if got := readAt(t, img, 0, 15); string(got) != "crash test disk" {
						t.Errorf("%s: content %q", id, got)
					}
				}
				img.Close()
				// Exactly one image per volume (and one base image).
				count := map[string]int{}
				for _, n := range e.imageNames() {
					count[n]++
				}
				if count[e.p.names.volumeImage(id)] != 1 {
					t.Errorf("%s: images %v", id, e.imageNames())
				}
				for n := range count {
					if e.p.names.isImportLeftover(n) {
						t.Errorf("%s: import leftover %s", id, n)
					}
				}
			}
		}
	}
}
