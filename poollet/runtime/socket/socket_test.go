package socket_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrite-dev/ferrite/poollet/runtime/socket"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimeconn"
)

// TestServe serves over a stale socket file, answers a call, and closes the runtime on stop.
func TestServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rt := fake.New(fake.Options{})
	closed := false
	stop, err := socket.Serve(path, rt.Register, func() { closed = true; rt.Close() })
	if err != nil {
		t.Fatal(err)
	}
	conn, err := runtimeconn.Dial("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := runtimev1alpha1.NewVolumeRuntimeClient(conn).Version(context.Background(), &runtimev1alpha1.VersionRequest{})
	if err != nil || resp.GetRuntimeName() != fake.RuntimeName {
		t.Fatalf("Version = %v, %v", resp, err)
	}
	stop()
	if !closed {
		t.Error("stop did not close the runtime")
	}
}
