package apiserver_test

import (
	"fmt"
	networkingac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/networking/v1alpha1"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
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

	// Deleting frees the VNI; new networks never get a VNI that a live network holds.
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
