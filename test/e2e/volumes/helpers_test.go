//go:build e2e

package volumes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// availableTimeout bounds a volume's way from create to Available: scheduling, and on first use
// of an image its pull and import into Ceph.
const availableTimeout = 3 * time.Minute

// applyVolume creates a Volume with kubectl in ns: size like "64Mi", source "" or
// "image: REF" or "snapshotRef: {name: NAME}".
func applyVolume(t *testing.T, ns, name, class, size, source string) {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: storage.ferrite.dev/v1alpha1
kind: Volume
metadata: {name: %s, namespace: %s}
spec:
  volumeClassRef: {name: %s}
  resources: {storage: %s}
`, name, ns, class, size)
	if source != "" {
		manifest += "  " + source + "\n"
	}
	if out, err := suite.Run(t, manifest, "bin/kubectl", "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply volume %s: %v\n%s", name, err, out)
	}
}

func getVolume(t *testing.T, ns, name string) *storagev1alpha1.Volume {
	t.Helper()
	v, err := ferrite.StorageV1alpha1().Volumes(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitAvailable waits until the Volume is Available with access information, and returns it.
func waitAvailable(t *testing.T, ns, name string) *storagev1alpha1.Volume {
	t.Helper()
	var v *storagev1alpha1.Volume
	localtest.Eventually(t, availableTimeout, "Volume "+ns+"/"+name+" Available", func() error {
		if v = getVolume(t, ns, name); v == nil {
			return fmt.Errorf("no Volume")
		}
		if v.Status.State != storagev1alpha1.VolumeStateAvailable || v.Status.Access == nil {
			return fmt.Errorf("state %q, Ready %+v", v.Status.State, meta.FindStatusCondition(v.Status.Conditions, volume.ConditionReady))
		}
		return nil
	})
	return v
}

// deleteVolume deletes a Volume with kubectl and waits until it is gone.
func deleteVolume(t *testing.T, ns, name string) {
	t.Helper()
	if out, err := suite.Run(t, "", "bin/kubectl", "-n", ns, "delete", "volume", name, "--wait=true", "--timeout=2m"); err != nil {
		t.Fatalf("kubectl delete volume %s: %v\n%s", name, err, out)
	}
}

// image is the RBD image of a Volume (ceph-provider names it after the runtime ID, the UID).
func image(v *storagev1alpha1.Volume) string { return "ferrite-volume-" + string(v.UID) }

// cephTool runs a Ceph command-line tool (rbd, ceph, rados) as the cluster's admin and returns
// its standard output; the error carries its standard error.
func cephTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	return command(tool, append([]string{"-c", pool.CephConf}, args...)...)
}

// command runs a command and returns its standard output; the error carries its standard
// error (Ceph's libraries log there even when all goes well).
func command(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// rbdInfo is `rbd info --format json` of an image; ok is false when it does not exist.
func rbdInfo(t *testing.T, name string) (info struct {
	Size   int64 `json:"size"`
	Parent *struct {
		Image    string `json:"image"`
		Snapshot string `json:"snapshot"`
	} `json:"parent"`
}, ok bool) {
	t.Helper()
	out, err := cephTool(t, "rbd", "info", "--format", "json", cephPool+"/"+name)
	if err != nil {
		if strings.Contains(err.Error(), "No such file") {
			return info, false
		}
		t.Fatalf("rbd info %s: %v\n%s", name, err, out)
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("rbd info %s: %v\n%s", name, err, out)
	}
	return info, true
}

// rbdImages lists the pool's images whose names contain part.
func rbdImages(t *testing.T, part string) []string {
	t.Helper()
	out, err := cephTool(t, "rbd", "ls", cephPool)
	if err != nil {
		t.Fatalf("rbd ls: %v\n%s", err, out)
	}
	var found []string
	for _, name := range strings.Fields(out) {
		if strings.Contains(name, part) {
			found = append(found, name)
		}
	}
	return found
}

// qemuIO runs qemu-io commands (like "write -P 0x5a 1M 64k") on an RBD image through QEMU's RBD
// driver, as the cephx user id with its keyring file (the admin when id is empty).
func qemuIO(t *testing.T, imageName, id, keyring string, commands ...string) (string, error) {
	t.Helper()
	target := "rbd:" + cephPool + "/" + imageName + ":conf=" + pool.CephConf
	if id != "" {
		target += ":id=" + id + ":keyring=" + keyring
	}
	args := []string{"-f", "raw"}
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	out, err := command("qemu-io", append(args, target)...)
	if err == nil && (strings.Contains(out, "failed") || strings.Contains(out, "Pattern verification")) {
		err = fmt.Errorf("qemu-io reported a failure")
	}
	return out, err
}

// keyringOf writes a keyring file for the Volume's own cephx user, from its access Secret as a
// hypervisor receives it, and returns the user (without "client.") and the file.
func keyringOf(t *testing.T, v *storagev1alpha1.Volume) (user, path string) {
	t.Helper()
	secret, err := kube.CoreV1().Secrets(v.Namespace).Get(context.Background(), v.Status.Access.SecretRef.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user = v.Status.Access.Attributes["user"]
	path = filepath.Join(t.TempDir(), "keyring")
	content := fmt.Sprintf("[client.%s]\n\tkey = %s\n", user, secret.Data[volume.SecretKeyKey])
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return user, path
}
