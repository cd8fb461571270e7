package apiserver_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// typedClient is what every generated typed client offers; CRUD is tested once against it.
type typedClient[T runtime.Object, L runtime.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

// crudCase creates obj, checks it lists and watches, updates it with mutate (a change of the
// desired state, which bumps the generation; nil for kinds whose desired state is immutable,
// then an annotation changes and the generation stays), patches a label, and deletes it.
func crudCase[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object](t *testing.T, client typedClient[T, L], obj T, mutate func(T)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	watcher, err := client.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + obj.GetName()})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer watcher.Stop()

	created, err := client.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetGeneration() != 1 || created.GetUID() == "" {
		t.Fatalf("create: generation %d uid %q, want 1 and a UID", created.GetGeneration(), created.GetUID())
	}
	expectEvent(t, watcher, watch.Added, obj.GetName())

	got, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Fatalf("get: %v (resourceVersion %s, want %s)", err, got.GetResourceVersion(), created.GetResourceVersion())
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if n := meta.LenList(list); n < 1 {
		t.Fatalf("list: %d items, want at least 1", n)
	}

	wantGeneration := int64(2)
	if mutate != nil {
		mutate(got)
	} else {
		got.SetAnnotations(map[string]string{"note": "metadata only"})
		wantGeneration = 1
	}
	updated, err := client.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.GetGeneration() != wantGeneration {
		t.Fatalf("update: generation %d, want %d", updated.GetGeneration(), wantGeneration)
	}
	expectEvent(t, watcher, watch.Modified, obj.GetName())

	patched, err := client.Patch(ctx, obj.GetName(), types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"gold"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if patched.GetLabels()["tier"] != "gold" || patched.GetGeneration() != wantGeneration {
		t.Fatalf("patch of a label: labels %v generation %d, want tier=gold and generation %d", patched.GetLabels(), patched.GetGeneration(), wantGeneration)
	}
	expectEvent(t, watcher, watch.Modified, obj.GetName())

	if err := client.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Protected kinds (classes, networks) get a finalizer at create that a controller removes
	// once nothing uses them. No controller runs here: the test removes it as one would.
	if current, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil && len(current.GetFinalizers()) > 0 {
		expectEvent(t, watcher, watch.Modified, obj.GetName())
		if _, err := client.Patch(ctx, obj.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("removing the finalizers of a deleted object: %v", err)
		}
	}
	expectEvent(t, watcher, watch.Deleted, obj.GetName())
	if _, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

func expectEvent(t *testing.T, watcher watch.Interface, eventType watch.EventType, name string) {
	t.Helper()
	select {
	case event, ok := <-watcher.ResultChan():
		if !ok {
			t.Fatalf("watch closed while waiting for %s of %s", eventType, name)
		}
		object, err := meta.Accessor(event.Object)
		if event.Type != eventType || err != nil || object.GetName() != name {
			t.Fatalf("watch: got %s of %v, want %s of %s", event.Type, event.Object, eventType, name)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("watch: no %s event for %s within 20s", eventType, name)
	}
}

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func ref(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }

func quantities(pairs ...string) corev1.ResourceList {
	list := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		list[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return list
}

func TestCRUDEveryKind(t *testing.T) {
	const ns = "crud"
	compute := server.Client.ComputeV1alpha1()
	storage := server.Client.StorageV1alpha1()
	networking := server.Client.NetworkingV1alpha1()
	ipam := server.Client.IpamV1alpha1()
	core := server.Client.CoreV1alpha1()

	t.Run("Machine", func(t *testing.T) {
		crudCase(t, compute.Machines(ns), &computev1alpha1.Machine{ObjectMeta: objectMeta("m"),
			Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")}},
			func(m *computev1alpha1.Machine) { m.Spec.Image = "debian-13" })
	})
	t.Run("MachineClass", func(t *testing.T) {
		crudCase(t, compute.MachineClasses(), &computev1alpha1.MachineClass{ObjectMeta: objectMeta("crud-class"),
			Capabilities: quantities("cpu", "1", "memory", "1Gi")}, nil)
	})
	t.Run("MachinePool", func(t *testing.T) {
		crudCase(t, compute.MachinePools(), &computev1alpha1.MachinePool{ObjectMeta: objectMeta("crud-pool")},
			func(p *computev1alpha1.MachinePool) {
				p.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoSchedule}}
			})
	})
	t.Run("Volume", func(t *testing.T) {
		crudCase(t, storage.Volumes(ns), &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"),
			Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}},
			func(v *storagev1alpha1.Volume) { v.Spec.Resources = quantities("storage", "2Gi") })
	})
	t.Run("VolumeClass", func(t *testing.T) {
		crudCase(t, storage.VolumeClasses(), &storagev1alpha1.VolumeClass{ObjectMeta: objectMeta("crud-fast"),
			Capabilities: quantities("iops", "1000", "tps", "100Mi")},
			func(c *storagev1alpha1.VolumeClass) { c.ResizePolicy = storagev1alpha1.ResizePolicyExpandOnly })
	})
	t.Run("VolumePool", func(t *testing.T) {
		crudCase(t, storage.VolumePools(), &storagev1alpha1.VolumePool{ObjectMeta: objectMeta("crud-vpool")},
			func(p *storagev1alpha1.VolumePool) { p.Spec.ProviderID = "ceph://a/rbd" })
	})
	t.Run("VolumeSnapshot", func(t *testing.T) {
		// The source volume is immutable; only metadata changes.
		crudCase(t, storage.VolumeSnapshots(ns), &storagev1alpha1.VolumeSnapshot{ObjectMeta: objectMeta("s"),
			Spec: storagev1alpha1.VolumeSnapshotSpec{VolumeRef: ref("v")}}, nil)
	})
	t.Run("Network", func(t *testing.T) {
		crudCase(t, networking.Networks(ns), &networkingv1alpha1.Network{ObjectMeta: objectMeta("n")},
			func(n *networkingv1alpha1.Network) {
				n.Spec.Peerings = []networkingv1alpha1.NetworkPeering{{Name: "p", NetworkRef: networkingv1alpha1.NetworkPeeringReference{Name: "other"}}}
			})
	})
	t.Run("NetworkInterface", func(t *testing.T) {
		crudCase(t, networking.NetworkInterfaces(ns), &networkingv1alpha1.NetworkInterface{ObjectMeta: objectMeta("nic"),
			Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: ref("n"), IPs: []networkingv1alpha1.IPSource{{Value: "10.0.0.5"}}}},
			func(n *networkingv1alpha1.NetworkInterface) {
				// The claim (spec.machineRef) is written only through networkinterfaces/claim.
				n.Spec.VirtualIPRef = &corev1.LocalObjectReference{Name: "vip"}
			})
	})
	t.Run("VirtualIP", func(t *testing.T) {
		crudCase(t, networking.VirtualIPs(ns), &networkingv1alpha1.VirtualIP{ObjectMeta: objectMeta("vip")},
			func(v *networkingv1alpha1.VirtualIP) {
				v.Spec.TargetRef = &networkingv1alpha1.TargetReference{Name: "nic"}
			})
	})
	t.Run("NATGateway", func(t *testing.T) {
		crudCase(t, networking.NATGateways(ns), &networkingv1alpha1.NATGateway{ObjectMeta: objectMeta("nat"),
			Spec: networkingv1alpha1.NATGatewaySpec{NetworkRef: ref("n")}},
			func(g *networkingv1alpha1.NATGateway) { g.Spec.PortsPerNetworkInterface = 4096 })
	})
	t.Run("LoadBalancer", func(t *testing.T) {
		crudCase(t, networking.LoadBalancers(ns), &networkingv1alpha1.LoadBalancer{ObjectMeta: objectMeta("lb"),
			Spec: networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypePublic, NetworkRef: ref("n"),
				Ports: []networkingv1alpha1.LoadBalancerPort{{Port: 80}}}},
			func(l *networkingv1alpha1.LoadBalancer) {
				l.Spec.Ports = append(l.Spec.Ports, networkingv1alpha1.LoadBalancerPort{Port: 443})
			})
	})
	t.Run("NetworkPolicy", func(t *testing.T) {
		crudCase(t, networking.NetworkPolicies(ns), &networkingv1alpha1.NetworkPolicy{ObjectMeta: objectMeta("np"),
			Spec: networkingv1alpha1.NetworkPolicySpec{NetworkRef: ref("n")}},
			func(p *networkingv1alpha1.NetworkPolicy) {
				p.Spec.Ingress = []networkingv1alpha1.NetworkPolicyRule{{Peers: []networkingv1alpha1.NetworkPolicyPeer{{IPBlock: &networkingv1alpha1.IPBlock{CIDR: "10.0.0.0/8"}}}}}
			})
	})
	t.Run("Prefix", func(t *testing.T) {
		// A root prefix's CIDR is fixed once set; only metadata changes.
		crudCase(t, ipam.Prefixes(ns), &ipamv1alpha1.Prefix{ObjectMeta: objectMeta("root"),
			Spec: ipamv1alpha1.PrefixSpec{Prefix: "10.0.0.0/16"}}, nil)
	})
	t.Run("ResourceQuota", func(t *testing.T) {
		crudCase(t, core.ResourceQuotas(ns), &corev1alpha1.ResourceQuota{ObjectMeta: objectMeta("q"),
			Spec: corev1alpha1.ResourceQuotaSpec{Hard: quantities("requests.cpu", "10")}},
			func(q *corev1alpha1.ResourceQuota) { q.Spec.Hard = quantities("requests.cpu", "20") })
	})
}
