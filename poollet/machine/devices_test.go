package machine_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// runtimeMachine returns the runtime machine of uid, nil when there is none.
func (e *env) runtimeMachine(uid string) *runtimev1alpha1.Machine {
	for _, rm := range e.runtimeMachines() {
		if rm.GetMetadata().GetId() == uid {
			return rm
		}
	}
	return nil
}

func runtimeNIC(rm *runtimev1alpha1.Machine, name string) *runtimev1alpha1.NetworkInterface {
	for _, n := range rm.GetSpec().GetNetworkInterfaces() {
		if n.GetName() == name {
			return n
		}
	}
	return nil
}

func runtimeVolume(rm *runtimev1alpha1.Machine, name string) *runtimev1alpha1.Volume {
	for _, v := range rm.GetSpec().GetVolumes() {
		if v.GetName() == name {
			return v
		}
	}
	return nil
}

// An emptyDisk is created with the machine, grows in place, and is detached when it leaves the
// spec; a NetworkInterface is attached only once claimed by the machine, with the tap name and
// MAC derived from its UID and the network's VNI, its new addresses are applied in place, and
// it is detached when it leaves the spec.
// Meanwhile Ready says what is pending.
func TestVolumesAndNetworkInterfaces(t *testing.T) {
	ns := unique("dev")
	createClass(t, "dev-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	machines := server.Client.ComputeV1alpha1().Machines(ns)

	if _, err := networks.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nic, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: "nic"},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "net"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := resource.MustParse("2Gi")
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "dev-small"}, Power: computev1alpha1.PowerOn,
			Volumes: []computev1alpha1.MachineVolume{{Name: "scratch", EmptyDisk: &computev1alpha1.EmptyDiskSource{SizeLimit: &size}}},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{
				{Name: "eth0", NetworkInterfaceRef: &corev1.LocalObjectReference{Name: "nic"}},
			}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := machines.Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uid := string(m.UID)

	// The disk is there at once; the unclaimed interface waits, and Ready says so.
	waitFor(t, "the disk attached and Ready=False DevicesPending", func() bool {
		rm, m := e.runtimeMachine(uid), getMachine(t, ns, "vm")
		c := meta.FindStatusCondition(m.Status.Conditions, machine.ConditionReady)
		return rm != nil && runtimeVolume(rm, "scratch").GetEmptyDisk().GetSizeBytes() == 2<<30 && runtimeNIC(rm, "eth0") == nil &&
			c != nil && c.Status == metav1.ConditionFalse && c.Reason == machine.ReasonDevicesPending &&
			len(m.Status.Volumes) == 1 && m.Status.Volumes[0].State == computev1alpha1.AttachmentAttached &&
			len(m.Status.NetworkInterfaces) == 1 && m.Status.NetworkInterfaces[0].State == computev1alpha1.AttachmentPending &&
			m.Status.ObservedGeneration == m.Generation
	})

	// Claimed by the machine: attached with the derived tap and MAC and the network's VNI.
	nic.Spec.MachineRef = &networkingv1alpha1.MachineReference{Name: "vm", UID: m.UID}
	if nic, err = nics.UpdateClaim(ctx, "nic", nic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if network, err := networks.Get(ctx, "net", metav1.GetOptions{}); err != nil || network.Status.VNI == 0 {
		t.Fatalf("network VNI %d, %v", network.Status.VNI, err)
	}
	var attached *runtimev1alpha1.NetworkInterface
	waitFor(t, "the interface attached, Ready=False until it has an address", func() bool {
		attached = runtimeNIC(e.runtimeMachine(uid), "eth0")
		c := meta.FindStatusCondition(getMachine(t, ns, "vm").Status.Conditions, machine.ConditionReady)
		return attached != nil && c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "no address")
	})
	if attached.GetTapName() != tapdevice.Name(string(nic.UID)) || attached.GetMacAddress() != tapdevice.MACAddress(string(nic.UID)) {
		t.Errorf("tap %q MAC %q, want them derived from the NetworkInterface UID", attached.GetTapName(), attached.GetMacAddress())
	}
	// The host's network agent finds the interface by its pool.
	placed, err := nics.List(ctx, metav1.ListOptions{FieldSelector: "status.machinePoolRef.name=" + e.options.PoolName})
	if err != nil || len(placed.Items) != 1 || placed.Items[0].Name != "nic" {
		t.Errorf("interfaces with status.machinePoolRef.name=%s: %v, %v; want nic", e.options.PoolName, placed, err)
	}
	if got := attached.GetAttributes()[machine.AttributeVNI]; got == "" || got == "0" {
		t.Errorf("attributes %v: want the network's VNI", attached.GetAttributes())
	}

	// New addresses are applied in place and reported.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := nics.Get(ctx, "nic", metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Status.IPs = []string{"10.0.0.5"}
		_, err = nics.UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the address on the runtime interface and in the Machine's status", func() bool {
		n := runtimeNIC(e.runtimeMachine(uid), "eth0")
		m := getMachine(t, ns, "vm")
		return n != nil && slices.Equal(n.GetIps(), []string{"10.0.0.5"}) && meta.IsStatusConditionTrue(m.Status.Conditions, machine.ConditionReady) &&
			len(m.Status.NetworkInterfaces) == 1 && slices.Equal(m.Status.NetworkInterfaces[0].IPs, []string{"10.0.0.5"})
	})
	if n := runtimeNIC(e.runtimeMachine(uid), "eth0"); n.GetMacAddress() != attached.GetMacAddress() {
		t.Errorf("the address change replaced the device: MAC %q, was %q", n.GetMacAddress(), attached.GetMacAddress())
	}

	// The disk grows in place, then leaves the spec and is detached.
	bigger := resource.MustParse("3Gi")
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Spec.Volumes[0].EmptyDisk.SizeLimit = &bigger })
	waitFor(t, "the disk grown", func() bool {
		return runtimeVolume(e.runtimeMachine(uid), "scratch").GetEmptyDisk().GetSizeBytes() == 3<<30
	})
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Spec.Volumes = nil })
	waitFor(t, "the disk detached", func() bool {
		m := getMachine(t, ns, "vm")
		return runtimeVolume(e.runtimeMachine(uid), "scratch") == nil && len(m.Status.Volumes) == 0 && m.Status.ObservedGeneration == m.Generation
	})

	// An interface that leaves the spec is detached.
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Spec.NetworkInterfaces = nil })
	waitFor(t, "the interface detached", func() bool {
		m := getMachine(t, ns, "vm")
		return runtimeNIC(e.runtimeMachine(uid), "eth0") == nil && len(m.Status.NetworkInterfaces) == 0
	})
}

func patchMachine(t *testing.T, namespace, name string, change func(*computev1alpha1.Machine)) {
	t.Helper()
	machines := server.Client.ComputeV1alpha1().Machines(namespace)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m, err := machines.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(m)
		_, err = machines.Update(context.Background(), m, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// A Machine whose first volume has an image boots from it: it is not created until that Volume
// is available (Ready names it), then the runtime gets RootDisk{image, volume} and the volume on
// vda. An encrypted Volume carries its passphrase from the key namespace, and a grown Volume
// grows the runtime disk once the storage has acted on it (status.observedGeneration).
func TestBootFromVolumeEncryptionAndGrow(t *testing.T) {
	ns := unique("bfv")
	createClass(t, "bfv-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	e.secrets = map[types.NamespacedName]*corev1.Secret{
		{Namespace: ns, Name: "boot-access"}:                               {ObjectMeta: metav1.ObjectMeta{UID: "access-uid", ResourceVersion: "1"}, Data: map[string][]byte{machine.SecretKeyCephKey: []byte("AQBkey==")}},
		{Namespace: machine.DefaultVolumeKeyNamespace, Name: "volume-enc"}: {ObjectMeta: metav1.ObjectMeta{UID: "pass-uid", ResourceVersion: "1"}, Data: map[string][]byte{machine.SecretKeyPassphrase: []byte("s3cret")}},
	}
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	for name, image := range map[string]string{"boot": "registry.example/os:1", "enc": ""} {
		if _, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: corev1.LocalObjectReference{Name: "fast"}, Image: image,
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "bfv-small"}, Power: computev1alpha1.PowerOn,
			Volumes: []computev1alpha1.MachineVolume{
				{Name: "os", VolumeRef: &corev1.LocalObjectReference{Name: "boot"}},
				{Name: "data", VolumeRef: &corev1.LocalObjectReference{Name: "enc"}},
			}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := machines.Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uid := string(m.UID)
	for _, name := range []string{"boot", "enc"} {
		claimVolume(t, ns, name, m)
	}

	// The boot volume has no access yet: nothing is created, Ready says why.
	waitFor(t, "Ready=False BootVolumePending naming the volume", func() bool {
		c := meta.FindStatusCondition(getMachine(t, ns, "vm").Status.Conditions, machine.ConditionReady)
		return c != nil && c.Reason == machine.ReasonBootVolumePending && strings.Contains(c.Message, "volume os")
	})
	if e.runtimeMachine(uid) != nil {
		t.Fatal("the machine was created before its boot volume was available")
	}

	// Available: created booting from it, on vda, of the Volume's size.
	setAccess(t, ns, "boot", map[string]string{})
	var rm *runtimev1alpha1.Machine
	waitFor(t, "the machine created booting from the volume", func() bool { rm = e.runtimeMachine(uid); return rm != nil })
	if rd := rm.GetSpec().GetRootDisk(); rd.GetImage() != "registry.example/os:1" || rd.GetVolume() != "os" {
		t.Fatalf("root disk %v", rd)
	}
	root := runtimeVolume(rm, "os")
	if root.GetDevice() != machine.BootDevice || root.GetNetworkDisk().GetSizeBytes() != 1<<30 || root.GetNetworkDisk().GetRbd().GetKey().GetId() != "access-uid/1" {
		t.Fatalf("boot volume %v", root)
	}

	// The encrypted volume: LUKS2 with the passphrase from the key namespace.
	setAccess(t, ns, "enc", map[string]string{machine.AttributeEncryption: machine.EncryptionLUKS2, machine.AttributeEncryptionSecret: "volume-enc"})
	waitFor(t, "the encrypted volume attached", func() bool { return runtimeVolume(e.runtimeMachine(uid), "data") != nil })
	enc := runtimeVolume(e.runtimeMachine(uid), "data").GetNetworkDisk().GetRbd().GetEncryption()
	if enc.GetFormat() != runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2 || !strings.HasPrefix(enc.GetPassphrase().GetId(), "pass-uid/") {
		t.Fatalf("encryption %v", enc)
	}

	// Grown: the disk keeps its size until the storage has seen the new request, then grows.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := volumes.Get(ctx, "boot", metav1.GetOptions{})
		if err != nil {
			return err
		}
		v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("2Gi")
		_, err = volumes.Update(ctx, v, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Annotations = map[string]string{"test": "requested"} })
	time.Sleep(time.Second)
	if size := runtimeVolume(e.runtimeMachine(uid), "os").GetNetworkDisk().GetSizeBytes(); size != 1<<30 {
		t.Fatalf("the disk grew to %d before the storage did", size)
	}
	setAccess(t, ns, "boot", map[string]string{})
	// No watch of Volumes tells the poollet (the resync every 5 minutes would): a Machine change does.
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Annotations = map[string]string{"test": "grow"} })
	waitFor(t, "the boot volume grown", func() bool {
		return runtimeVolume(e.runtimeMachine(uid), "os").GetNetworkDisk().GetSizeBytes() == 2<<30
	})
}

func claimVolume(t *testing.T, namespace, name string, m *computev1alpha1.Machine) {
	t.Helper()
	volumes := server.Client.StorageV1alpha1().Volumes(namespace)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := volumes.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		v.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: m.Name, UID: m.UID}
		_, err = volumes.UpdateClaim(context.Background(), name, v, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// setAccess makes Volume name available on Ceph, as the volumepoollet does, with extra
// attributes, and marks its current generation observed.
func setAccess(t *testing.T, namespace, name string, extra map[string]string) {
	t.Helper()
	volumes := server.Client.StorageV1alpha1().Volumes(namespace)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := volumes.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		attributes := map[string]string{
			machine.AttributeMonitors: "10.0.0.1:6789", machine.AttributePool: "rbd",
			machine.AttributeImage: "ferrite-volume-" + string(v.UID), machine.AttributeUser: "ferrite-volume-" + string(v.UID),
		}
		maps.Copy(attributes, extra)
		v.Status.State, v.Status.ObservedGeneration = storagev1alpha1.VolumeStateAvailable, v.Generation
		v.Status.Access = &storagev1alpha1.VolumeAccess{Driver: machine.DriverCeph, Handle: "rbd/x", Attributes: attributes,
			SecretRef: &corev1.LocalObjectReference{Name: "boot-access"}}
		_, err = volumes.UpdateStatus(context.Background(), v, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
