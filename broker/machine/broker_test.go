package machine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	broker "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// A create makes the Secret, Network, NetworkInterface and Machine below under deterministic
// names with the ID label; the lower scheduler and poollet run it and RUNNING passes up through
// ListMachines and Watch; a retried create makes nothing new; power off and on pass through;
// delete removes everything below.
func TestMachineLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, networkUID := string(uuid.NewUUID()), string(uuid.NewUUID())

	list, err := e.client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch, err := e.client.Watch(watchCtx, &runtimev1alpha1.WatchRequest{FromRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}

	s := spec()
	s.UserData = &runtimev1alpha1.UserData{Data: []byte(`{"ignition":{"version":"3.4.0"}}`)}
	s.Volumes = []*runtimev1alpha1.Volume{{Name: "scratch", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: 1 << 30}}}}
	s.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0", Ips: []string{"10.0.0.5/24"},
		Attributes: map[string]string{"ferrite.dev/network-uid": networkUID}}}
	req := &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{"upper": "yes"}}, Spec: s}}
	resp, err := e.client.CreateMachine(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetCreated() || resp.GetMachine().GetMetadata().GetId() != id {
		t.Fatalf("create: created=%v id=%q", resp.GetCreated(), resp.GetMachine().GetMetadata().GetId())
	}

	// The lower objects, by name, with the ID label.
	m, err := lowerServer.Client.ComputeV1alpha1().Machines(e.ns).Get(ctx, "m-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Labels[broker.LabelID] != id || m.Spec.MachineClassRef.Name != class || m.Spec.MachinePoolSelector["broker-test"] != e.ns ||
		m.Spec.IgnitionRef == nil || m.Spec.IgnitionRef.Name != "m-"+id+"-ignition" || len(m.Spec.Volumes) != 1 || m.Spec.Volumes[0].EmptyDisk == nil ||
		len(m.Spec.NetworkInterfaces) != 1 || m.Spec.NetworkInterfaces[0].NetworkInterfaceRef.Name != "m-"+id+"-eth0" {
		t.Fatalf("lower Machine: labels %v, spec %+v", m.Labels, m.Spec)
	}
	secret, err := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, "m-"+id+"-ignition", metav1.GetOptions{})
	if err != nil || secret.Labels[broker.LabelID] != id || string(secret.Data["ignition.json"]) != string(s.UserData.Data) {
		t.Fatalf("lower Secret: %v %+v", err, secret)
	}
	if _, err := lowerServer.Client.NetworkingV1alpha1().Networks(e.ns).Get(ctx, "n-"+networkUID, metav1.GetOptions{}); err != nil {
		t.Fatalf("lower Network: %v", err)
	}
	nic, err := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Get(ctx, "m-"+id+"-eth0", metav1.GetOptions{})
	if err != nil || nic.Labels[broker.LabelID] != id || nic.Spec.NetworkRef.Name != "n-"+networkUID || len(nic.Spec.IPs) != 1 || nic.Spec.IPs[0].Value != "10.0.0.5" {
		t.Fatalf("lower NetworkInterface: %v %+v", err, nic)
	}

	// The lower cluster runs it; RUNNING passes up.
	waitFor(t, "the machine running through the broker", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING })
	rm := e.runtimeMachine(id)
	if rm.GetMetadata().GetLabels()["upper"] != "yes" || len(rm.GetSpec().GetNetworkInterfaces()) != 1 || rm.GetSpec().GetUserData() != nil {
		t.Fatalf("runtime machine: %v", rm)
	}
	var lowerRuntime []*runtimev1alpha1.Machine
	for _, lm := range mustList(t, e.lowerRT) {
		if string(lm.GetSpec().GetUserData().GetData()) == string(s.UserData.Data) {
			lowerRuntime = append(lowerRuntime, lm)
		}
	}
	if len(lowerRuntime) != 1 {
		t.Fatalf("the lower runtime has %d machines with the user data, want 1", len(lowerRuntime))
	}
	sawAdded, sawRunning := false, false
	for !sawRunning {
		change, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if mc := change.GetMachine(); mc.GetMachine().GetMetadata().GetId() == id {
			sawAdded = sawAdded || mc.GetType() == runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED
			sawRunning = mc.GetMachine().GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
		}
	}
	if !sawAdded {
		t.Fatal("Watch showed no ADDED")
	}

	// A retried create finds the machine.
	again, err := e.client.CreateMachine(ctx, req)
	if err != nil || again.GetCreated() {
		t.Fatalf("retried create: %v, created=%v", err, again.GetCreated())
	}
	if n := len(e.lowerMachines(id)); n != 1 {
		t.Fatalf("%d lower Machines after a retried create, want 1", n)
	}

	// Power off and on.
	if _, err := e.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the machine stopped", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED })
	if _, err := e.client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: id, RebootId: "r1"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("reboot of a stopped machine: %v, want FailedPrecondition", err)
	}
	if _, err := e.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the machine running again", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING })

	// Reboot sets the lower annotation once.
	reboot := time.Now().UTC().Format(time.RFC3339)
	for range 2 {
		if _, err := e.client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: id, RebootId: reboot}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the reboot id passed up", func() bool { return e.runtimeMachine(id).GetStatus().GetLastRebootId() == reboot })
	m, _ = lowerServer.Client.ComputeV1alpha1().Machines(e.ns).Get(ctx, "m-"+id, metav1.GetOptions{})
	if m.Annotations[broker.AnnotationRebootRequest] != reboot {
		t.Fatalf("lower reboot annotation %q, want %q", m.Annotations[broker.AnnotationRebootRequest], reboot)
	}

	// Delete removes everything below.
	del, err := e.client.DeleteMachine(ctx, &runtimev1alpha1.DeleteMachineRequest{MachineId: id})
	if err != nil || del.GetMachine().GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING {
		t.Fatalf("delete: %v %v", err, del)
	}
	waitFor(t, "the machine gone from the broker", func() bool { return e.runtimeMachine(id) == nil })
	waitFor(t, "the lower objects gone", func() bool {
		_, errM := lowerServer.Client.ComputeV1alpha1().Machines(e.ns).Get(ctx, "m-"+id, metav1.GetOptions{})
		_, errN := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Get(ctx, "m-"+id+"-eth0", metav1.GetOptions{})
		_, errS := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, "m-"+id+"-ignition", metav1.GetOptions{})
		return apierrors.IsNotFound(errM) && apierrors.IsNotFound(errN) && apierrors.IsNotFound(errS)
	})
	if again, err := e.client.DeleteMachine(ctx, &runtimev1alpha1.DeleteMachineRequest{MachineId: id}); err != nil || again.GetMachine() != nil {
		t.Fatalf("repeated delete: %v %v", err, again)
	}
}

func mustList(t *testing.T, rt interface {
	ListMachines(context.Context, *runtimev1alpha1.ListMachinesRequest) (*runtimev1alpha1.ListMachinesResponse, error)
}) []*runtimev1alpha1.Machine {
	t.Helper()
	list, err := rt.ListMachines(context.Background(), &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return list.GetMachines()
}

// Status sums the allocatable of the lower pools the selector picks, and no other pool's.
func TestCapacitySumsAllocatable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if got := e.available(); got != 4 {
		t.Fatalf("available %d with one pool of 4, want 4", got)
	}
	startPoollet(t, lowerServer, e.ns+"-b", e.labels, 3, nil, "")
	startPoollet(t, lowerServer, e.ns+"-other", map[string]string{"broker-test": "someone-else"}, 5, nil, "")
	waitFor(t, "both served pools counted", func() bool { return e.available() == 7 })
	resp, err := e.client.Status(ctx, &runtimev1alpha1.StatusRequest{Classes: []*runtimev1alpha1.MachineClass{
		{Name: class, Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 30}},
		{Name: "not-exposed", Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 30}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The upper poollet counts the class in the allocatable resources: the same sum.
	if n := capacity.FromHost(resp.GetAllocatable()).Count(capacity.Resources{VCPUs: 1, MemoryBytes: 1 << 30}); n != 7 {
		t.Fatalf("allocatable %v fits %d machines of the class, want 7", resp.GetAllocatable(), n)
	}
	if resp.GetClasses()[1].GetAvailable() != 0 {
		t.Fatalf("a class the broker does not expose: available %d", resp.GetClasses()[1].GetAvailable())
	}
}

// Interfaces and Secrets with an ID label but no Machine, older than the grace, are swept; the
// parts of an existing machine are kept.
func TestSweepHalfCreated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kept := string(uuid.NewUUID())
	s := spec()
	s.UserData = &runtimev1alpha1.UserData{Data: []byte("{}")}
	if _, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: kept}, Spec: s}}); err != nil {
		t.Fatal(err)
	}
	orphan := string(uuid.NewUUID())
	meta := metav1.ObjectMeta{Namespace: e.ns, Labels: map[string]string{broker.LabelID: orphan}, Annotations: map[string]string{broker.AnnotationID: orphan}}
	meta.Name = broker.NetworkInterfaceName(orphan, "eth0")
	if _, err := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: meta, Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "n-x"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	meta.Name = broker.SecretName(orphan)
	meta.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	if _, err := e.secrets.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the half-created objects swept", func() bool {
		_, errN := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Get(ctx, broker.NetworkInterfaceName(orphan, "eth0"), metav1.GetOptions{})
		_, errS := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, broker.SecretName(orphan), metav1.GetOptions{})
		return apierrors.IsNotFound(errN) && apierrors.IsNotFound(errS)
	})
	if _, err := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, broker.SecretName(kept), metav1.GetOptions{}); err != nil {
		t.Fatalf("the Secret of an existing machine: %v", err)
	}
}

// A network disk is mapped to the lower Volume with the same access; one no lower Volume serves
// is refused, naming the disk, and nothing is left below.
func TestNetworkDisks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rbd := func(image string) *runtimev1alpha1.Volume {
		return &runtimev1alpha1.Volume{Name: "data", Source: &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
			SizeBytes: 1 << 30, Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
				Monitors: []string{"10.0.0.1:6789"}, Pool: "rbd", Image: image, User: "u",
				Key: &runtimev1alpha1.SecretKey{Id: "k/1", Data: []byte("secret")}}}}}}
	}
	unknown := string(uuid.NewUUID())
	s := spec()
	s.UserData = &runtimev1alpha1.UserData{Data: []byte("{}")}
	s.Volumes = []*runtimev1alpha1.Volume{rbd("nowhere")}
	_, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: unknown}, Spec: s}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "data") || !strings.Contains(err.Error(), "rbd/nowhere") {
		t.Fatalf("unknown network disk: %v, want FailedPrecondition naming it", err)
	}
	if n := len(e.lowerMachines(unknown)); n != 0 {
		t.Fatalf("%d lower Machines after a refused create", n)
	}
	if _, err := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, broker.SecretName(unknown), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret after a refused create: %v", err)
	}

	// A lower Volume with that access.
	volumes := lowerServer.Client.StorageV1alpha1().Volumes(e.ns)
	v, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: metav1.ObjectMeta{Name: "v-known"},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v.Status.Access = &storagev1alpha1.VolumeAccess{Driver: "ceph", Handle: "rbd/known"}
	if _, err := volumes.UpdateStatus(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	known := string(uuid.NewUUID())
	s.Volumes = []*runtimev1alpha1.Volume{rbd("known")}
	waitFor(t, "the volume mapped", func() bool {
		_, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: known}, Spec: s}})
		return err == nil
	})
	m := e.lowerMachines(known)
	if len(m) != 1 || len(m[0].Spec.Volumes) != 1 || m[0].Spec.Volumes[0].VolumeRef == nil || m[0].Spec.Volumes[0].VolumeRef.Name != "v-known" {
		t.Fatalf("lower Machine volumes: %+v", m)
	}
	if strings.Contains(m[0].Annotations[broker.AnnotationSpec], "c2VjcmV0") {
		t.Fatal("the cephx key is stored below")
	}
}

// A create the lower apiserver refuses (a device name the lower validation does not take)
// deletes the Secret and interface it made and returns INVALID_ARGUMENT.
func TestRollbackOnPermanentError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := string(uuid.NewUUID())
	s := spec()
	s.UserData = &runtimev1alpha1.UserData{Data: []byte("{}")}
	s.Volumes = []*runtimev1alpha1.Volume{{Name: "scratch", Device: "nvme0n1", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: 1 << 30}}}}
	s.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0", Attributes: map[string]string{"ferrite.dev/network-uid": string(uuid.NewUUID())}}}
	_, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: s}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "device") {
		t.Fatalf("create refused below: %v, want InvalidArgument naming the device", err)
	}
	if n := len(e.lowerMachines(id)); n != 0 {
		t.Fatalf("%d lower Machines", n)
	}
	if _, err := e.secrets.CoreV1().Secrets(e.ns).Get(ctx, broker.SecretName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret after rollback: %v", err)
	}
	if _, err := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Get(ctx, broker.NetworkInterfaceName(id, "eth0"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("NetworkInterface after rollback: %v", err)
	}
}

// A create cut short after its Secret and interface (a broker killed mid-create) is completed
// by the retry: the parts are reused and there is exactly one Machine.
func TestRetryCompletesCutShortCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, networkUID := string(uuid.NewUUID()), string(uuid.NewUUID())
	meta := metav1.ObjectMeta{Namespace: e.ns, Labels: map[string]string{broker.LabelID: id}, Annotations: map[string]string{broker.AnnotationID: id}}
	meta.Name = broker.SecretName(id)
	if _, err := e.secrets.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"ignition.json": []byte("{}")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	meta.Name = broker.NetworkInterfaceName(id, "eth0")
	if _, err := lowerServer.Client.NetworkingV1alpha1().NetworkInterfaces(e.ns).Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: meta, Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: broker.NetworkName(networkUID)}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := spec()
	s.UserData = &runtimev1alpha1.UserData{Data: []byte("{}")}
	s.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0", Attributes: map[string]string{"ferrite.dev/network-uid": networkUID}}}
	req := &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: s}}
	resp, err := e.client.CreateMachine(ctx, req)
	if err != nil || !resp.GetCreated() {
		t.Fatalf("retried create: %v created=%v", err, resp.GetCreated())
	}
	for range 3 {
		if _, err := e.client.CreateMachine(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.lowerMachines(id)); n != 1 {
		t.Fatalf("%d lower Machines, want 1", n)
	}
	waitFor(t, "the machine running", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING })
}

// A broker started again (its history lost) lists the machine from the lower cluster, tells a
// watcher of the old run to resync (RevisionTooOld), and a retried create makes no second
// Machine.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := string(uuid.NewUUID())
	req := &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: spec()}}
	if _, err := e.client.CreateMachine(ctx, req); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the machine running", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING })
	old, err := e.client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}

	e.stopBroker()
	e.startBroker()
	if e.runtimeMachine(id).GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		t.Fatalf("after restart: %v", e.runtimeMachine(id))
	}
	watch, err := e.client.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: old.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.OutOfRange {
		t.Fatalf("watch from the old run's revision: %v, want OutOfRange", err)
	} else if _, ok := runtimev1alpha1.AsRevisionTooOld(err); !ok {
		t.Fatalf("watch from the old run's revision: %v, want a RevisionTooOld detail", err)
	}
	resp, err := e.client.CreateMachine(ctx, req)
	if err != nil || resp.GetCreated() {
		t.Fatalf("create after restart: %v created=%v", err, resp.GetCreated())
	}
	if n := len(e.lowerMachines(id)); n != 1 {
		t.Fatalf("%d lower Machines, want 1", n)
	}
}
