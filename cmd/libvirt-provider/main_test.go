package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

func TestParseReserved(t *testing.T) {
	r, err := parseReserved(2, "1Gi", []string{"2Mi=16", "1Gi=1"})
	if err != nil {
		t.Fatal(err)
	}
	want := capacity.Resources{VCPUs: 2, MemoryBytes: 1 << 30, HugePages: map[uint64]uint64{2 << 20: 16, 1 << 30: 1}}
	if r.VCPUs != want.VCPUs || r.MemoryBytes != want.MemoryBytes || r.HugePages[2<<20] != 16 || r.HugePages[1<<30] != 1 {
		t.Fatalf("got %+v", r)
	}
	for _, bad := range [][]string{{"2Mi"}, {"x=1"}, {"2Mi=-1"}} {
		if _, err := parseReserved(0, "0", bad); err == nil {
			t.Errorf("--reserved-hugepages %v accepted", bad)
		}
	}
	if _, err := parseReserved(0, "-1Gi", nil); err == nil {
		t.Error("a negative --reserved-memory accepted")
	}
}

// TestBinary runs the built command on qemu:///system (FERRITE_LIBVIRT_E2E=1, after
// hack/libvirt-up.sh): it chooses a virt type, serves the socket, answers, and stops on SIGTERM.
func TestBinary(t *testing.T) {
	if os.Getenv("FERRITE_LIBVIRT_E2E") != "1" {
		t.Skip("runs libvirt-provider on qemu:///system: set FERRITE_LIBVIRT_E2E=1")
	}
	dir, err := os.MkdirTemp("", "lvpbin")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o711)
	bin := filepath.Join(dir, "libvirt-provider")
	if out, err := exec.Command("go", "build", "-tags", "libvirt_dlopen", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	socket := filepath.Join(dir, "rt.sock")
	cmd := exec.Command(bin, "--socket", socket, "--state-dir", filepath.Join(dir, "state"), "--virt-type", "auto",
		"--kvm-probe-timeout", "5s", "--reserved-cpus", "1", "--reserved-memory", "256Mi")
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("no socket after a minute:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := runtimev1alpha1.NewMachineRuntimeClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := client.Version(ctx, &runtimev1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil || v.GetRuntimeName() != "libvirt-provider" {
		t.Fatalf("version %v %v", v, err)
	}
	st, err := client.Status(ctx, &runtimev1alpha1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetCapacity().GetVcpus() == 0 || st.GetReserved().GetVcpus() != 1 || st.GetReserved().GetMemoryBytes() != 256<<20 ||
		st.GetAllocatable().GetVcpus() != st.GetCapacity().GetVcpus()-1 {
		t.Fatalf("status %v", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30 s after SIGTERM")
	}
	out, _ := os.ReadFile(log.Name())
	t.Logf("log:\n%s", out)
}
