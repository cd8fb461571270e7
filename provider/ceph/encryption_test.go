package ceph

import (
	"bytes"
	"context"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

var luksOn = &api.Encryption{Format: api.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}

// openEncrypted opens an image as admin with its encryption loaded.
func (e *testEnv) openEncrypted(name string, pass []byte) *rbd.Image {
	e.t.Helper()
	img := e.openAdmin(name)
	if err := img.EncryptionLoad(luks2(pass)); err != nil {
		e.t.Fatalf("%s: loading the encryption: %v", name, err)
	}
	return img
}

func TestEncryption(t *testing.T) {
	e := newEnv(t)
	v := e.create("e1", &api.VolumeSpec{Class: "c", SizeBytes: 32 << 20, Encryption: luksOn})
	st := v.GetStatus()
	pass := st.GetAccess().GetSecrets()["passphrase"]
	if st.GetEncryption() != api.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2 || st.GetSizeBytes() != 32<<20 ||
		st.GetAccess().GetAttributes()["encryption"] != "luks2" || len(pass) != 64 {
		t.Fatalf("status %v", st)
	}
	name := e.p.names.volumeImage("e1")
	raw := e.openAdmin(name)
	if size, _ := raw.GetSize(); size != 32<<20+luksHeaderBytes {
		t.Errorf("raw size %d, want %d", size, 32<<20+luksHeaderBytes)
	}
	if magic := readAt(t, raw, 0, 6); !bytes.Equal(magic, []byte("LUKS\xba\xbe")) {
		t.Errorf("the image starts with %q, not the LUKS magic", magic)
	}
	// The passphrase is nowhere in the image's metadata.
	meta, _ := raw.ListMetadata()
	for k, val := range meta {
		if bytes.Contains([]byte(val), pass) {
			t.Errorf("metadata %s holds the passphrase", k)
		}
	}
	raw.Close()

	marker := []byte("encrypted marker")
	img := e.openEncrypted(name, pass)
	if size, _ := img.GetSize(); size != 32<<20 {
		t.Errorf("visible size %d", size)
	}
	writeAt(t, img, 0, marker)
	if got := readAt(t, img, 0, len(marker)); !bytes.Equal(got, marker) {
		t.Errorf("read back %q", got)
	}
	if got := readAt(t, img, 8<<20, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Errorf("a part never written does not read as zeros")
	}
	img.Close()
	raw = e.openAdmin(name)
	if got := readAt(t, raw, luksHeaderBytes, len(marker)); bytes.Equal(got, marker) {
		t.Errorf("the data is stored in the clear")
	}
	if err := raw.EncryptionLoad(luks2([]byte("wrong"))); err == nil {
		t.Errorf("a wrong passphrase opened the volume")
	}
	raw.Close()

	// Expand grows the raw image by as much; the header stays.
	if _, err := e.p.ExpandVolume(context.Background(), &api.ExpandVolumeRequest{VolumeId: "e1", SizeBytes: 48 << 20}); err != nil {
		t.Fatal(err)
	}
	img = e.openEncrypted(name, pass)
	if size, _ := img.GetSize(); size != 48<<20 {
		t.Errorf("visible size after expand %d", size)
	}
	if got := readAt(t, img, 0, len(marker)); !bytes.Equal(got, marker) {
		t.Errorf("after expand reads %q", got)
	}
	img.Close()

	// A restore of its snapshot is a copy with the same passphrase.
	e.snapshot("esnap", "e1")
	r := e.create("er", &api.VolumeSpec{Class: "c", SizeBytes: 64 << 20, Source: &api.VolumeSpec_Snapshot{Snapshot: &api.SnapshotSource{SnapshotId: "esnap"}}})
	if !bytes.Equal(r.GetStatus().GetAccess().GetSecrets()["passphrase"], pass) || r.GetStatus().GetSizeBytes() != 64<<20 {
		t.Errorf("restore status %v", r.GetStatus())
	}
	rimg := e.openEncrypted(e.p.names.volumeImage("er"), pass)
	if got := readAt(t, rimg, 0, len(marker)); !bytes.Equal(got, marker) {
		t.Errorf("restore reads %q", got)
	}
	if size, _ := rimg.GetSize(); size != 64<<20 {
		t.Errorf("restore's visible size %d", size)
	}
	rimg.Close()

	// An encrypted volume from an image is a full copy with the image's content.
	disk := make([]byte, 3<<20)
	copy(disk, "boot sector")
	copy(disk[2<<20:], "late data")
	ref := e.pushImage("enc", disk)
	ei := e.create("ei", &api.VolumeSpec{Class: "c", SizeBytes: 8 << 20, Encryption: luksOn, Source: &api.VolumeSpec_Image{Image: &api.ImageSource{Image: ref}}})
	eimg := e.openEncrypted(e.p.names.volumeImage("ei"), ei.GetStatus().GetAccess().GetSecrets()["passphrase"])
	if _, err := eimg.GetParent(); !isNotFound(err) {
		t.Errorf("an encrypted volume from an image is a clone (%v)", err)
	}
	if got := readAt(t, eimg, 0, len(disk)); !bytes.Equal(got, disk) {
		t.Errorf("the encrypted volume's content differs from the image's")
	}
	eimg.Close()

	// Its own user opens it (the passphrase is not readable to it).
	a := ei.GetStatus().GetAccess()
	uimg, done, err := e.openAs(a.GetAttributes()["user"], string(a.GetSecrets()["key"]), a.GetAttributes()["image"])
	if err != nil {
		t.Fatal(err)
	}
	if err := uimg.EncryptionLoad(luks2(a.GetSecrets()["passphrase"])); err != nil {
		t.Errorf("the volume's user cannot load its encryption: %v", err)
	}
	done()
}
