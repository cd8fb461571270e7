//go:build e2e

package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/poollet/volume"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// A Volume applied with kubectl becomes an RBD image of its size with the class's QoS limits
// and credentials of its own; it grows when its size grows, refuses to shrink (and to grow at
// all under a Static class), and its delete removes the image, its cephx user and its Secret.
func TestVolumeLifecycle(t *testing.T) {
	applyVolume(t, namespace, "plain", fastClass, "64Mi", "")
	v := waitAvailable(t, namespace, "plain")
	info, ok := rbdInfo(t, image(v))
	if !ok || info.Size != 64<<20 {
		t.Fatalf("rbd image %s: exists %v, size %d; want 64 MiB", image(v), ok, info.Size)
	}
	for option, want := range map[string]int{"rbd_qos_iops_limit": fastIOPS, "rbd_qos_bps_limit": fastTPS} {
		out, err := cephTool(t, "rbd", "config", "image", "get", cephPool+"/"+image(v), option)
		if err != nil || strings.TrimSpace(out) != fmt.Sprint(want) {
			t.Errorf("rbd config image get %s: %q (%v), want %d", option, out, err, want)
		}
	}
	if a := v.Status.Access; a.Driver != "ceph" || a.Attributes["image"] != image(v) || a.Attributes["pool"] != cephPool || a.SecretRef == nil {
		t.Errorf("status.access %+v", a)
	}

	suite.MustKubectl(t, "patch", "volume", "plain", "--type=merge", "-p", `{"spec":{"resources":{"storage":"96Mi"}}}`)
	localtest.Eventually(t, time.Minute, "the image grown to 96 MiB", func() error {
		if info, _ := rbdInfo(t, image(v)); info.Size != 96<<20 {
			return fmt.Errorf("size %d", info.Size)
		}
		return nil
	})
	out, err := suite.Kubectl(t, "patch", "volume", "plain", "--type=merge", "-p", `{"spec":{"resources":{"storage":"32Mi"}}}`)
	if err == nil || !strings.Contains(out, "spec.resources[storage]") {
		t.Errorf("a shrink was not refused naming spec.resources[storage]: %v\n%s", err, out)
	}
	if info, _ := rbdInfo(t, image(v)); info.Size != 96<<20 {
		t.Errorf("size %d after the refused shrink, want 96 MiB", info.Size)
	}

	applyVolume(t, namespace, "fixed", fixedClass, "32Mi", "")
	waitAvailable(t, namespace, "fixed")
	out, err = suite.Kubectl(t, "patch", "volume", "fixed", "--type=merge", "-p", `{"spec":{"resources":{"storage":"64Mi"}}}`)
	if err == nil || !strings.Contains(out, "Static") {
		t.Errorf("growing a volume of a Static class was not refused: %v\n%s", err, out)
	}

	user := "client." + v.Status.Access.Attributes["user"]
	deleteVolume(t, namespace, "plain")
	deleteVolume(t, namespace, "fixed")
	if _, ok := rbdInfo(t, image(v)); ok {
		t.Errorf("image %s left after the Volume was deleted", image(v))
	}
	if out, err := cephTool(t, "ceph", "auth", "get", user); err == nil {
		t.Errorf("cephx user %s left after the Volume was deleted:\n%s", user, out)
	}
	if _, err := kube.CoreV1().Secrets(namespace).Get(context.Background(), volume.AccessSecretName("plain"), metav1.GetOptions{}); err == nil {
		t.Errorf("access Secret left after the Volume was deleted")
	}
}

// A Volume of an encrypted class is a LUKS2 image whose passphrase lives in a Secret of
// ferrite-system that the tenant cannot read, while the tenant reads its own access Secret.
func TestEncryptedVolume(t *testing.T) {
	applyVolume(t, namespace, "secret-data", encryptedClass, "64Mi", "")
	v := waitAvailable(t, namespace, "secret-data")
	if got := v.Status.Access.Attributes["encryption"]; got != "luks2" {
		t.Errorf("access attribute encryption %q, want luks2", got)
	}
	dump := filepath.Join(t.TempDir(), "raw")
	if out, err := cephTool(t, "rbd", "export", cephPool+"/"+image(v), dump); err != nil {
		t.Fatalf("rbd export: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "LUKS\xba\xbe") {
		t.Errorf("the image does not start with a LUKS header: % x", raw[:16])
	}
	if len(raw) <= 64<<20 {
		t.Errorf("raw image of %d bytes: no room for the LUKS header before 64 MiB of data", len(raw))
	}
	passphrase := volume.PassphraseSecretName(v.UID)
	if _, err := kube.CoreV1().Secrets("ferrite-system").Get(context.Background(), passphrase, metav1.GetOptions{}); err != nil {
		t.Errorf("passphrase Secret ferrite-system/%s: %v", passphrase, err)
	}
	out, err := suite.Run(t, "", "bin/kubectl", "-n", "ferrite-system", "get", "secret", passphrase, "--as=alice")
	if err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("the tenant read the passphrase Secret: %v\n%s", err, out)
	}
	if out, err := suite.Kubectl(t, "get", "secret", v.Status.Access.SecretRef.Name, "--as=alice"); err != nil {
		t.Errorf("the tenant cannot read its own access Secret: %v\n%s", err, out)
	}
	deleteVolume(t, namespace, "secret-data")
	if _, err := kube.CoreV1().Secrets("ferrite-system").Get(context.Background(), passphrase, metav1.GetOptions{}); err == nil {
		t.Errorf("passphrase Secret left after the Volume was deleted")
	}
}

// A snapshot and a volume restored from it hold the data written before the snapshot; deleting
// the source volume, then the snapshot, keeps the restored volume's data.
func TestSnapshotRestore(t *testing.T) {
	applyVolume(t, namespace, "source", fastClass, "64Mi", "")
	src := waitAvailable(t, namespace, "source")
	if out, err := qemuIO(t, image(src), "", "", "write -P 0x5a 1M 64k"); err != nil {
		t.Fatalf("writing the marker: %v\n%s", err, out)
	}
	suite.Apply(t, `apiVersion: storage.ferrite.dev/v1alpha1
kind: VolumeSnapshot
metadata: {name: source-snap}
spec: {volumeRef: {name: source}}
`)
	localtest.Eventually(t, time.Minute, "the snapshot Ready", func() error {
		s, err := ferrite.StorageV1alpha1().VolumeSnapshots(namespace).Get(context.Background(), "source-snap", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Status.State != "Ready" || s.Status.RestoreSize == nil || s.Status.RestoreSize.Value() != 64<<20 {
			return fmt.Errorf("status %+v", s.Status)
		}
		return nil
	})
	// Written after the snapshot: not in the restore.
	if out, err := qemuIO(t, image(src), "", "", "write -P 0x77 1M 64k"); err != nil {
		t.Fatalf("overwriting the marker: %v\n%s", err, out)
	}
	applyVolume(t, namespace, "restored", fastClass, "64Mi", "snapshotRef: {name: source-snap}")
	restored := waitAvailable(t, namespace, "restored")
	readMarker := func(when string) {
		t.Helper()
		if out, err := qemuIO(t, image(restored), "", "", "read -P 0x5a 1M 64k"); err != nil {
			t.Errorf("%s: the restored volume lacks the marker: %v\n%s", when, err, out)
		}
	}
	readMarker("after the restore")

	deleteVolume(t, namespace, "source")
	readMarker("after the source volume was deleted")
	applyVolume(t, namespace, "restored-2", fastClass, "64Mi", "snapshotRef: {name: source-snap}")
	if out, err := qemuIO(t, image(waitAvailable(t, namespace, "restored-2")), "", "", "read -P 0x5a 1M 64k"); err != nil {
		t.Errorf("a restore after the source was deleted lacks the marker: %v\n%s", err, out)
	}
	suite.MustKubectl(t, "delete", "volumesnapshot", "source-snap", "--wait=true", "--timeout=2m")
	readMarker("after the snapshot was deleted")
	deleteVolume(t, namespace, "restored")
	deleteVolume(t, namespace, "restored-2")
	if left := rbdImages(t, string(src.UID)); len(left) > 0 {
		t.Errorf("images of the source volume left after it and its snapshot went: %v", left)
	}
}

// A volume made from an OCI image is a copy-on-write clone of the image's one imported base.
func TestVolumeFromImage(t *testing.T) {
	applyVolume(t, namespace, "from-image", fastClass, "64Mi", "image: "+pool.GuestImage)
	v := waitAvailable(t, namespace, "from-image")
	info, ok := rbdInfo(t, image(v))
	if !ok || info.Parent == nil || !strings.HasPrefix(info.Parent.Image, "ferrite-image-") || info.Parent.Snapshot != "base" {
		t.Fatalf("rbd info %s: %+v (exists %v), want a clone of ferrite-image-...@base", image(v), info, ok)
	}
	if info.Size != 64<<20 {
		t.Errorf("size %d, want 64 MiB", info.Size)
	}
	deleteVolume(t, namespace, "from-image")
}

// A volume's own cephx key (what a hypervisor receives) opens its image and no other: not
// another tenant's, not another volume of the same tenant.
func TestTenantKeyIsolation(t *testing.T) {
	applyVolume(t, namespace, "mine", fastClass, "32Mi", "")
	applyVolume(t, otherNamespace, "theirs", fastClass, "32Mi", "")
	mine, theirs := waitAvailable(t, namespace, "mine"), waitAvailable(t, otherNamespace, "theirs")
	user, keyring := keyringOf(t, mine)
	if out, err := qemuIO(t, image(mine), user, keyring, "write -P 0x11 0 4k", "read -P 0x11 0 4k"); err != nil {
		t.Errorf("the volume's own key cannot write and read it: %v\n%s", err, out)
	}
	if out, err := qemuIO(t, image(theirs), user, keyring, "read 0 4k"); err == nil {
		t.Errorf("the key of %s/mine opened %s/theirs:\n%s", namespace, otherNamespace, out)
	}
	deleteVolume(t, namespace, "mine")
	deleteVolume(t, otherNamespace, "theirs")
}
