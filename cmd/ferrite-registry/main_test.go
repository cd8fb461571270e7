package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrite-dev/ferrite/provider/image"
)

// startRegistry serves the registry kept in dir, as `ferrite-registry serve` does.
func startRegistry(t *testing.T, dir string) (*httptest.Server, string) {
	t.Helper()
	h, err := newHandler(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestServePushPullRestart(t *testing.T) {
	ctx := context.Background()
	regDir := t.TempDir()
	srv, host := startRegistry(t, regDir)

	files := t.TempDir()
	disk := filepath.Join(files, "root.raw")
	kernel := filepath.Join(files, "vmlinuz")
	os.WriteFile(disk, bytes.Repeat([]byte("disk"), 1<<16), 0o644)
	os.WriteFile(kernel, []byte("kernel"), 0o644)

	var out bytes.Buffer
	err := run(ctx, []string{"push", "--plain-http", "--rootdisk", disk, "--kernel", kernel, "--cmdline", "console=ttyS0", host + "/guests/linux:v1"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimSpace(out.String())
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("push printed %q", digest)
	}

	pull := func(host, ref string) (*image.Image, error) {
		s, err := image.NewStore(image.StoreOptions{Dir: t.TempDir(), PlainHTTPRegistries: []string{host}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Pull(ctx, host+ref)
	}
	img, err := pull(host, "/guests/linux:v1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != digest || img.Cmdline != "console=ttyS0" || img.RootDiskSize != 1<<18 {
		t.Errorf("pulled %+v", img)
	}

	// A restart: a new registry on the same directory serves the same image, by tag and digest.
	srv.Close()
	srv2, host2 := startRegistry(t, regDir)
	for _, ref := range []string{"/guests/linux:v1", "/guests/linux@" + digest} {
		img, err := pull(host2, ref)
		if err != nil {
			t.Fatalf("%s after a restart: %v", ref, err)
		}
		if img.Digest != digest {
			t.Errorf("%s after a restart: digest %s", ref, img.Digest)
		}
	}

	// A deleted tag stays deleted across a restart.
	req, _ := http.NewRequest(http.MethodDelete, srv2.URL+"/v2/guests/linux/manifests/v1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	srv2.Close()
	_, host3 := startRegistry(t, regDir)
	if _, err := pull(host3, "/guests/linux:v1"); !image.IsNotFound(err) {
		t.Errorf("deleted tag after a restart: %v", err)
	}
	if _, err := pull(host3, "/guests/linux@"+digest); err != nil {
		t.Errorf("by digest after the tag's deletion: %v", err)
	}
}

func TestPushUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"push"},
		{"push", "--kernel", "/nonexistent", "127.0.0.1:1/x:y"},
		{"serve"},
	} {
		if err := run(ctx, args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
