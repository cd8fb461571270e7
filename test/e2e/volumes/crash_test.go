//go:build e2e

package volumes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// Killing the volumepoollet or ceph-provider (SIGKILL) at some point of a create, and starting
// it again, leaves exactly one RBD image per Volume and no half-imported base image. The kills
// land at several delays after the apply, so that they hit different steps of the create
// (before the call, during the image import or the clone, after the image exists).
func TestCrashMidCreate(t *testing.T) {
	// A tag of its own, so the first create imports the image (the slowest create).
	image := pushGuestImage(t, "crash")
	for i, delay := range []time.Duration{0, 300 * time.Millisecond, time.Second, 3 * time.Second} {
		for _, victim := range []string{"volumepoollet", "ceph-provider"} {
			name := fmt.Sprintf("crash-%s-%d", strings.TrimSuffix(victim, "-provider"), i)
			applyVolume(t, namespace, name, fastClass, "64Mi", "image: "+image)
			time.Sleep(delay)
			switch victim {
			case "volumepoollet":
				cluster.KillVolumePoollet()
				time.Sleep(time.Second)
				if err := cluster.StartVolumePoollet(); err != nil {
					t.Fatal(err)
				}
			default:
				cluster.KillCephProvider()
				time.Sleep(time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := cluster.StartCephProvider(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			v := waitAvailable(t, namespace, name)
			if got := rbdImages(t, string(v.UID)); len(got) != 1 {
				t.Errorf("%s killed %s after the apply: images %v for the Volume, want exactly one", victim, delay, got)
			}
		}
	}
	localtest.Eventually(t, time.Minute, "no temporary images", func() error {
		var bases, others []string
		for _, name := range rbdImages(t, "") {
			switch {
			case strings.HasPrefix(name, "ferrite-volume-"):
			case strings.HasPrefix(name, "ferrite-image-"):
				bases = append(bases, name)
			default:
				others = append(others, name)
			}
		}
		if len(others) > 0 {
			return fmt.Errorf("images that are neither volumes nor bases: %v", others)
		}
		seen := map[string]bool{}
		for _, b := range bases {
			if seen[b] {
				return fmt.Errorf("base %s twice", b)
			}
			seen[b] = true
		}
		return nil
	})
	for i := range 4 {
		for _, victim := range []string{"volumepoollet", "ceph"} {
			deleteVolume(t, namespace, fmt.Sprintf("crash-%s-%d", victim, i))
		}
	}
}

// pushGuestImage pushes the local guest image under another tag (same content, same digest
// unless the tag is in the content) and returns its reference.
func pushGuestImage(t *testing.T, tag string) string {
	t.Helper()
	ref := pool.Registry + "/ferrite/guest:" + tag
	cmd := exec.Command(filepath.Join(root, "hack", "guest-image.sh"), "--push", ref)
	cmd.Env = append(os.Environ(), "FERRITE_REGISTRY="+filepath.Join(root, "bin", "ferrite-registry"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/guest-image.sh --push %s: %v\n%s", ref, err, out)
	}
	return ref
}
