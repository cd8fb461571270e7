package apiserver_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	networkingac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/registry/networking/network"
)

func rootPrefix(name, cidr string) *ipamv1alpha1.Prefix {
	return &ipamv1alpha1.Prefix{ObjectMeta: objectMeta(name), Spec: ipamv1alpha1.PrefixSpec{Prefix: cidr}}
}

// TestVNIUniqueUnderConcurrentCreates creates 50 networks at once (in two namespaces, some
// with generated names) and checks every VNI is distinct, that a deleted network's VNI is not
// handed out while others hold theirs, and that clients cannot pick or change a VNI.
func TestVNIUniqueUnderConcurrentCreates(t *testing.T) {
	ctx := testContext(t)
	const count = 50
	var wg sync.WaitGroup
	results := make(chan *networkingv1alpha1.Network, count)
	errs := make(chan error, count)
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := fmt.Sprintf("vni-%d", i%2)
			network := &networkingv1alpha1.Network{Status: networkingv1alpha1.NetworkStatus{VNI: 42}}
			if i%5 == 0 {
				network.GenerateName = "gen-"
			} else {
				network.Name = fmt.Sprintf("net-%d", i)
			}
			created, err := server.Client.NetworkingV1alpha1().Networks(ns).Create(ctx, network, metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			results <- created
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent create: %v", err)
	}
	seen := map[int32]string{}
	var networks []*networkingv1alpha1.Network
	for network := range results {
		networks = append(networks, network)
		vni := network.Status.VNI
		if vni < 1 || vni > 1<<24-1 {
			t.Fatalf("%s/%s got VNI %d outside 1..16777215", network.Namespace, network.Name, vni)
		}
		if other, dup := seen[vni]; dup {
			t.Fatalf("VNI %d given to %s and %s/%s", vni, other, network.Namespace, network.Name)
		}
		seen[vni] = network.Namespace + "/" + network.Name
	}
	if len(seen) != count {
		t.Fatalf("%d distinct VNIs, want %d", len(seen), count)
	}

	// A client cannot change the VNI through the status subresource.
	victim := networks[0].DeepCopy()
	victim.Status.VNI++
	_, err := server.Client.NetworkingV1alpha1().Networks(victim.Namespace).UpdateStatus(ctx, victim, metav1.UpdateOptions{})
	wantCauses(t, err, "status.vni")

	// New networks never get a VNI that a live network holds, nor one of a network just deleted.
	deleted := networks[1]
	if err := server.Client.NetworkingV1alpha1().Networks(deleted.Namespace).Delete(ctx, deleted.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(seen, deleted.Status.VNI)
	for i := range 5 {
		created, err := server.Client.NetworkingV1alpha1().Networks("vni-after").Create(ctx,
			&networkingv1alpha1.Network{ObjectMeta: objectMeta(fmt.Sprintf("after-%d", i))}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if holder, dup := seen[created.Status.VNI]; dup {
			t.Fatalf("VNI %d reused while %s holds it", created.Status.VNI, holder)
		}
		seen[created.Status.VNI] = created.Name
	}

	// A create that fails (the name exists) leaves no claim behind and keeps the existing VNI.
	existing := networks[2]
	_, err = server.Client.NetworkingV1alpha1().Networks(existing.Namespace).Create(ctx,
		&networkingv1alpha1.Network{ObjectMeta: objectMeta(existing.Name)}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate name: %v, want AlreadyExists", err)
	}
	again, err := server.Client.NetworkingV1alpha1().Networks(existing.Namespace).Get(ctx, existing.Name, metav1.GetOptions{})
	if err != nil || again.Status.VNI != existing.Status.VNI {
		t.Fatalf("existing network changed VNI: %v %d -> %d", err, existing.Status.VNI, again.Status.VNI)
	}
}

func networkNamed(name string) *networkingv1alpha1.Network {
	return &networkingv1alpha1.Network{ObjectMeta: objectMeta(name)}
}

// TestVNIForNetworksCreatedByApply checks the create that server-side apply makes (through the
// store's update path) gets a VNI too.
func TestVNIForNetworksCreatedByApply(t *testing.T) {
	ctx := testContext(t)
	applied, err := server.Client.NetworkingV1alpha1().Networks("vni-apply").Apply(ctx,
		networkingac.Network("applied", "vni-apply"), metav1.ApplyOptions{FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Status.VNI == 0 {
		t.Fatalf("network created by apply has no VNI")
	}
	other, err := server.Client.NetworkingV1alpha1().Networks("vni-apply").Create(ctx, networkNamed("created"), metav1.CreateOptions{})
	if err != nil || other.Status.VNI == applied.Status.VNI || other.Status.VNI == 0 {
		t.Fatalf("created network VNI %d vs applied %d: %v", other.Status.VNI, applied.Status.VNI, err)
	}
}

// TestNetworkProtectionFinalizer checks that every way of creating a Network gives it the
// protection finalizer, so a delete request leaves it in place (with its VNI) until the
// finalizer goes, and that no NetworkInterface can be added to a Network being deleted.
func TestNetworkProtectionFinalizer(t *testing.T) {
	ctx := testContext(t)
	const ns = "network-protection"
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)

	created, err := networks.Create(ctx, networkNamed("created"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := networks.Apply(ctx, networkingac.Network("applied", ns), metav1.ApplyOptions{FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	dryRun, err := networks.Create(ctx, networkNamed("dry-run"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*networkingv1alpha1.Network{created, applied, dryRun} {
		if !slices.Contains(n.Finalizers, network.ProtectionFinalizer) {
			t.Errorf("network %s: finalizers %v, want %s", n.Name, n.Finalizers, network.ProtectionFinalizer)
		}
	}

	nic := &networkingv1alpha1.NetworkInterface{ObjectMeta: objectMeta("nic"),
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: ref("created"), IPs: []networkingv1alpha1.IPSource{{Value: "10.0.0.5"}}}}
	if _, err := nics.Create(ctx, nic, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := networks.Delete(ctx, "created", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waiting, err := networks.Get(ctx, "created", metav1.GetOptions{})
	if err != nil || waiting.DeletionTimestamp == nil || waiting.Status.VNI != created.Status.VNI {
		t.Fatalf("after the delete request: %v %+v; want the network there, being deleted, with VNI %d", err, waiting, created.Status.VNI)
	}

	late := nic.DeepCopy()
	late.Name = "late"
	_, err = nics.Create(ctx, late, metav1.CreateOptions{})
	wantCauses(t, err, "spec.networkRef")

	dropFinalizers(ctx, t, server.Client, ns, "created")
	// A network that does not exist is no reason to refuse an interface: objects come in any order.
	if _, err := nics.Create(ctx, late, metav1.CreateOptions{}); err != nil {
		t.Fatalf("interface of a network that does not exist: %v", err)
	}
}
