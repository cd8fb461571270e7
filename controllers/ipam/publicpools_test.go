package ipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/ipam"
)

func labelledPrefix(namespace, name, cidr string, created time.Time) ipamv1alpha1.Prefix {
	return ipamv1alpha1.Prefix{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(namespace + "/" + name),
			CreationTimestamp: metav1.NewTime(created), Labels: map[string]string{ipam.LabelVirtualIPs: "true"}},
		Spec: ipamv1alpha1.PrefixSpec{Prefix: cidr},
	}
}

// Only labelled root prefixes of the operator's namespace serve VirtualIPs, and of two
// overlapping ones only the older.
func TestPublicPoolsVerdict(t *testing.T) {
	pools := ipam.PublicPools{Namespace: publicNamespace}
	early, late := time.Unix(1000, 0), time.Unix(2000, 0)
	operator := labelledPrefix(publicNamespace, "public", "203.0.113.0/29", early)
	tenant := labelledPrefix("a", "mine", "203.0.113.0/28", early)
	child := labelledPrefix(publicNamespace, "child", "203.0.113.0/30", late)
	child.Spec.ParentRef = &corev1.LocalObjectReference{Name: "public"}
	younger := labelledPrefix(publicNamespace, "younger", "203.0.113.4/30", late)
	sameSecond := labelledPrefix(publicNamespace, "aaa", "203.0.113.0/24", early)
	apart := labelledPrefix(publicNamespace, "apart", "198.51.100.0/24", late)
	all := []ipamv1alpha1.Prefix{operator, tenant, child, younger, sameSecond, apart}
	for _, tt := range []struct {
		prefix ipamv1alpha1.Prefix
		reason string
	}{
		{operator, ipam.ReasonOverlapsPool}, // "aaa" was created in the same second and sorts first
		{sameSecond, ipam.ReasonOperatorPool},
		{tenant, ipam.ReasonNotOperatorNamespace},
		{child, ipam.ReasonNotRoot},
		{younger, ipam.ReasonOverlapsPool},
		{apart, ipam.ReasonOperatorPool},
	} {
		got := pools.Verdict(&tt.prefix, all)
		if got.Reason != tt.reason || (got.Status == metav1.ConditionTrue) != (tt.reason == ipam.ReasonOperatorPool) {
			t.Errorf("%s/%s: %s %s (%s), want reason %s", tt.prefix.Namespace, tt.prefix.Name, got.Status, got.Reason, got.Message, tt.reason)
		}
	}
	if got := pools.Verdict(&operator, []ipamv1alpha1.Prefix{operator, tenant, younger}); got.Status != metav1.ConditionTrue {
		t.Errorf("the oldest pool is refused: %s", got.Message)
	}
}

// A tenant's labelled prefix gets its Warning event once, however often it is reconciled.
func TestIgnoredPoolWarnsOnce(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := ipamv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	tenant := labelledPrefix("a", "mine", "203.0.113.0/28", time.Unix(1000, 0))
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&tenant).WithStatusSubresource(&ipamv1alpha1.Prefix{}).Build()
	events := &recorder{}
	r := &ipam.Prefixes{Client: c, Releaser: &ipam.Releaser{Client: c, APIReader: c}, Pools: ipam.PublicPools{Namespace: publicNamespace}, Recorder: events}
	for i := 0; i < 3; i++ {
		if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "a", Name: "mine"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("a/mine Warning "+ipam.ReasonNotOperatorNamespace, events); n != 1 {
		t.Errorf("%d warnings after three reconciles, want 1: %v", n, events.events)
	}
	got := &ipamv1alpha1.Prefix{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "a", Name: "mine"}, got); err != nil {
		t.Fatal(err)
	}
	if cond := apimeta.FindStatusCondition(got.Status.Conditions, ipam.ConditionVirtualIPPool); cond == nil || cond.Status != metav1.ConditionFalse {
		t.Errorf("condition %s = %v, want False", ipam.ConditionVirtualIPPool, cond)
	}
}

// Two tenants, two IPAM managers: tenant a labels its own root prefixes as public pools, one
// overlapping the operator's pool and one not, and has a network prefix overlapping it too.
// VirtualIPs of both namespaces get addresses only from the operator's pool, never one twice; a
// tenant's ledgers show only its own allocations; and each ignored prefix is reported once.
func TestVirtualIPsOnlyFromOperatorPools(t *testing.T) {
	server := testserver.Start(t)
	first, second := startIPAM(t, server), startIPAM(t, server)
	ctx := context.Background()
	tenantPrefixes := server.Client.IpamV1alpha1().Prefixes("a")
	for _, p := range []*ipamv1alpha1.Prefix{
		root("a-overlapping", "203.0.113.0/28", map[string]string{ipam.LabelVirtualIPs: "true"}),
		root("a-apart", "198.51.100.0/24", map[string]string{ipam.LabelVirtualIPs: "true"}),
		root("a-net", "203.0.113.0/29", map[string]string{ipam.LabelNetwork: "net-a"}),
	} {
		p.Namespace = "a"
		if _, err := tenantPrefixes.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	condition := func(client interface {
		Get(context.Context, string, metav1.GetOptions) (*ipamv1alpha1.Prefix, error)
	}, name string) *metav1.Condition {
		p, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated {
			return nil
		}
		return apimeta.FindStatusCondition(p.Status.Conditions, ipam.ConditionVirtualIPPool)
	}
	for _, name := range []string{"a-overlapping", "a-apart"} {
		waitFor(t, 30*time.Second, name+" ignored", func() bool {
			c := condition(tenantPrefixes, name)
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ipam.ReasonNotOperatorNamespace
		})
	}
	publicPrefixes := server.Client.IpamV1alpha1().Prefixes(publicNamespace)
	public := root("public", "203.0.113.0/29", map[string]string{ipam.LabelVirtualIPs: "true"})
	public.Namespace = publicNamespace
	if _, err := publicPrefixes.Create(ctx, public, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the operator's pool serving", func() bool {
		c := condition(publicPrefixes, "public")
		return c != nil && c.Status == metav1.ConditionTrue
	})

	// A NIC of tenant a takes an address of its network prefix, which overlaps the public pool.
	nic, err := server.Client.NetworkingV1alpha1().NetworkInterfaces("a").Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Name: "nic", Namespace: "a"},
		Spec:       networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "net-a"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Six usable public addresses for three VirtualIPs in each of a and b.
	for _, namespace := range []string{"a", "b"} {
		namespace := namespace
		parallel(3, func(i int) {
			vip := &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%d", i), Namespace: namespace}}
			if _, err := server.Client.NetworkingV1alpha1().VirtualIPs(namespace).Create(ctx, vip, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	assigned := func() map[string]string {
		byIP := map[string]string{}
		for _, namespace := range []string{"a", "b"} {
			list, err := server.Client.NetworkingV1alpha1().VirtualIPs(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range list.Items {
				if v.Status.IP == "" {
					continue
				}
				if other, dup := byIP[v.Status.IP]; dup {
					t.Fatalf("%s handed to %s and %s/%s", v.Status.IP, other, namespace, v.Name)
				}
				byIP[v.Status.IP] = namespace + "/" + v.Name
			}
		}
		return byIP
	}
	waitFor(t, 60*time.Second, "6 virtual IPs", func() bool { return len(assigned()) == 6 })
	pool := netip.MustParsePrefix("203.0.113.0/29")
	for ip, owner := range assigned() {
		if !pool.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s got %s, outside the operator's pool", owner, ip)
		}
	}

	// The pool is full: one more VirtualIP gets no address, from a tenant's pool or anywhere.
	if _, err := server.Client.NetworkingV1alpha1().VirtualIPs("b").Create(ctx, &networkingv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "one-too-many", Namespace: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "no address for one-too-many", func() bool {
		return count("b/one-too-many Warning "+ipam.ReasonNoAddress, first, second) > 0
	})
	if late, err := server.Client.NetworkingV1alpha1().VirtualIPs("b").Get(ctx, "one-too-many", metav1.GetOptions{}); err != nil || late.Status.IP != "" {
		t.Errorf("one-too-many: %v, address %q from a full operator pool", err, late.Status.IP)
	}

	// The tenant's ledgers hold only the tenant's own allocations.
	waitFor(t, 30*time.Second, "the NIC's address", func() bool {
		got, err := server.Client.NetworkingV1alpha1().NetworkInterfaces("a").Get(ctx, nic.Name, metav1.GetOptions{})
		if err == nil {
			nic = got
		}
		return err == nil && len(nic.Status.IPs) == 1
	})
	for name, want := range map[string][]string{"a-overlapping": nil, "a-apart": nil, "a-net": {nic.Status.IPs[0] + "/32"}} {
		p, err := tenantPrefixes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Status.Used) != fmt.Sprint(want) {
			t.Errorf("%s status.used = %v, want %v", name, p.Status.Used, want)
		}
	}
	for _, name := range []string{"a-overlapping", "a-apart"} {
		if n := count("a/"+name+" Warning "+ipam.ReasonNotOperatorNamespace, first, second); n != 1 {
			t.Errorf("%s: %d warnings from two managers, want 1", name, n)
		}
	}
}
