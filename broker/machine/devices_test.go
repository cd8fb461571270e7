package machine_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	broker "github.com/ferrite-dev/ferrite/broker/machine"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Volumes and NICs attached, updated and detached after create change the lower Machine and its
// NetworkInterfaces; repeats are no-ops, conflicting specs and in-place changes that cannot be
// made are refused.
func TestAttachUpdateDetach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := string(uuid.NewUUID())
	if _, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: spec()}}); err != nil {
		t.Fatal(err)
	}
	lower := func() *computev1alpha1.Machine {
		m, err := lowerServer.Client.ComputeV1alpha1().Machines(e.ns).Get(ctx, broker.MachineName(id), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	disk := func(size uint64) *runtimev1alpha1.Volume {
		return &runtimev1alpha1.Volume{Name: "extra", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: size}}}
	}
	for range 2 {
		if _, err := e.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk(1 << 30)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk(2 << 30)}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("attach with another spec: %v, want AlreadyExists", err)
	}
	if m := lower(); len(m.Spec.Volumes) != 1 || m.Spec.Volumes[0].EmptyDisk.SizeLimit.Value() != 1<<30 {
		t.Fatalf("lower volumes after attach: %+v", m.Spec.Volumes)
	}
	if _, err := e.client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: disk(2 << 30)}); err != nil {
		t.Fatal(err)
	}
	if m := lower(); m.Spec.Volumes[0].EmptyDisk.SizeLimit.Value() != 2<<30 {
		t.Fatalf("lower volume after growth: %v", m.Spec.Volumes[0].EmptyDisk.SizeLimit)
	}
	if _, err := e.client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: disk(1 << 30)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("shrink: %v, want FailedPrecondition", err)
	}
	waitFor(t, "the grown disk in ListMachines", func() bool {
		return e.runtimeMachine(id).GetSpec().GetVolumes()[0].GetEmptyDisk().GetSizeBytes() == 2<<30
	})

	nic := &runtimev1alpha1.NetworkInterface{Name: "eth1", Ips: []string{"10.1.0.7"}, Attributes: map[string]string{"ferrite.dev/network-uid": string(uuid.NewUUID())}}
	if _, err := e.client.AttachNetworkInterface(ctx, &runtimev1alpha1.AttachNetworkInterfaceRequest{MachineId: id, NetworkInterface: nic}); err != nil {
		t.Fatal(err)
	}
	nics := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns)
	if got, err := nics.Get(ctx, broker.NetworkInterfaceName(id, "eth1"), metav1.GetOptions{}); err != nil || got.Spec.IPs[0].Value != "10.1.0.7" {
		t.Fatalf("lower interface after attach: %v %+v", err, got)
	}
	if m := lower(); len(m.Spec.NetworkInterfaces) != 1 || m.Spec.NetworkInterfaces[0].NetworkInterfaceRef.Name != broker.NetworkInterfaceName(id, "eth1") {
		t.Fatalf("lower interfaces: %+v", m.Spec.NetworkInterfaces)
	}
	nic.Ips = []string{"10.1.0.8"}
	if _, err := e.client.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: id, NetworkInterface: nic}); err != nil {
		t.Fatal(err)
	}
	if got, err := nics.Get(ctx, broker.NetworkInterfaceName(id, "eth1"), metav1.GetOptions{}); err != nil || got.Spec.IPs[0].Value != "10.1.0.8" {
		t.Fatalf("lower interface after update: %v %+v", err, got)
	}
	for range 2 {
		if _, err := e.client.DetachNetworkInterface(ctx, &runtimev1alpha1.DetachNetworkInterfaceRequest{MachineId: id, Name: "eth1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: id, Name: "extra"}); err != nil {
			t.Fatal(err)
		}
	}
	if m := lower(); len(m.Spec.Volumes) != 0 || len(m.Spec.NetworkInterfaces) != 0 {
		t.Fatalf("lower Machine after detach: %+v", m.Spec)
	}
	if _, err := nics.Get(ctx, broker.NetworkInterfaceName(id, "eth1"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("lower interface after detach: %v", err)
	}
	if _, err := e.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: "nope", Volume: disk(1 << 30)}); status.Code(err) != codes.NotFound {
		t.Fatalf("attach to an unknown machine: %v, want NotFound", err)
	}
}
