package publicaddress_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/publicaddress"
)

// waitAddress waits until the VirtualIP has an address and the quarantine finalizer; it returns
// the VirtualIP.
func waitAddress(t *testing.T, namespace, name string) *networkingv1alpha1.VirtualIP {
	t.Helper()
	var vip *networkingv1alpha1.VirtualIP
	waitFor(t, fmt.Sprintf("VirtualIP %s with an address and the quarantine finalizer", name), func(ctx context.Context) (bool, string) {
		var err error
		if vip, err = getVIP(ctx, namespace, name); err != nil {
			return false, err.Error()
		}
		return vip.Status.IP != "" && publicaddress.Guarded(vip), fmt.Sprintf("address %q, finalizers %v", vip.Status.IP, vip.Finalizers)
	})
	return vip
}

// inPool reports whether the public pool's ledger holds ip.
func inPool(ctx context.Context, ip string) (bool, error) {
	pool, err := server.Client.IpamV1alpha1().Prefixes(controllermanager.NewOptions().PublicPrefixNamespace).Get(ctx, "public", metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	return slices.Contains(pool.Status.Used, ip+"/32"), nil
}

// A deleted VirtualIP leaves its interface at once but keeps its address claimed for the
// quarantine (a new VirtualIP gets another address), then goes and the address returns to the
// pool.
func TestQuarantineHoldsAddress(t *testing.T) {
	ns := namespace("quarantine")
	ctx := t.Context()
	vips := server.Client.NetworkingV1alpha1().VirtualIPs(ns)
	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "old"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreateNIC(t, ns, nic("tenant", "net", "old"))
	ip := waitAddress(t, ns, "old").Status.IP
	waitVirtualIP(t, ns, "tenant", ip)

	if err := vips.Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	waitVirtualIP(t, ns, "tenant", "")
	old, err := getVIP(ctx, ns, "old")
	if err != nil || old.DeletionTimestamp == nil {
		t.Fatalf("VirtualIP old after its deletion: %v, %+v; want it there, terminating", err, old)
	}
	t.Logf("tenant lost status.virtualIP %.1fs after the deletion; VirtualIP old holds %s", time.Since(deleted).Seconds(), ip)

	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitAddress(t, ns, "new").Status.IP
	if got == ip {
		t.Errorf("VirtualIP new got %s, the address of VirtualIP old in quarantine", got)
	}
	if held, err := inPool(ctx, ip); err != nil || !held {
		t.Errorf("the pool's ledger holds %s: %v, %v; want it held during the quarantine", ip, held, err)
	}
	if _, err := getVIP(ctx, ns, "old"); err != nil {
		t.Fatalf("VirtualIP old gone %.1fs after its deletion, before the checks ran (quarantine %s): %v", time.Since(deleted).Seconds(), quarantine, err)
	}

	waitGone(t, "VirtualIP old", func(ctx context.Context) error { _, err := getVIP(ctx, ns, "old"); return err })
	// The deletionTimestamp has whole seconds, so the quarantine may end up to a second early.
	if took := time.Since(deleted); took < quarantine-time.Second {
		t.Errorf("VirtualIP old gone %.1fs after its deletion; the quarantine is %s", took.Seconds(), quarantine)
	}
	waitFor(t, ip+" back in the pool", func(ctx context.Context) (bool, string) {
		held, err := inPool(ctx, ip)
		return err == nil && !held, fmt.Sprint(held, err)
	})
}

// A VirtualIP that never got an address (no IPv6 pool) goes at once.
func TestQuarantineSkipsVirtualIPWithoutAddress(t *testing.T) {
	ns := namespace("quarantine-none")
	ctx := t.Context()
	vips := server.Client.NetworkingV1alpha1().VirtualIPs(ns)
	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "v6"},
		Spec:       networkingv1alpha1.VirtualIPSpec{IPFamily: corev1.IPv6Protocol},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "VirtualIP v6 with the quarantine finalizer", func(ctx context.Context) (bool, string) {
		vip, err := getVIP(ctx, ns, "v6")
		if err != nil {
			return false, err.Error()
		}
		return publicaddress.Guarded(vip), fmt.Sprint(vip.Finalizers)
	})
	if err := vips.Delete(ctx, "v6", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	waitGone(t, "VirtualIP v6", func(ctx context.Context) error { _, err := getVIP(ctx, ns, "v6"); return err })
	if took := time.Since(deleted); took >= quarantine-time.Second {
		t.Errorf("VirtualIP v6, without an address, took %.1fs to go; want at once, not the %s quarantine", took.Seconds(), quarantine)
	}
}

// A NATGateway's deletion does not wait for its VirtualIP's quarantine: the gateway goes, the
// VirtualIP stays terminating with its address until the quarantine has passed.
func TestQuarantineDoesNotHoldGateway(t *testing.T) {
	ns := namespace("quarantine-gw")
	ctx := t.Context()
	gateways := server.Client.NetworkingV1alpha1().NATGateways(ns)
	if _, err := gateways.Create(ctx, gateway("gw", "net", 64), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ip := waitGateway(t, ns, "gw", 0)
	if err := gateways.Delete(ctx, "gw", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	waitGone(t, "NATGateway gw", func(ctx context.Context) error { _, err := gateways.Get(ctx, "gw", metav1.GetOptions{}); return err })
	name := publicaddress.NATVirtualIPName("gw")
	vip, err := getVIP(ctx, ns, name)
	if err != nil || vip.DeletionTimestamp == nil || vip.Status.IP != ip {
		t.Fatalf("VirtualIP %s %.1fs after the gateway's deletion: %v, %+v; want it terminating with address %s", name, time.Since(deleted).Seconds(), err, vip, ip)
	}
	waitGone(t, "VirtualIP "+name, func(ctx context.Context) error { _, err := getVIP(ctx, ns, name); return err })
}

// The time left is computed from the deletionTimestamp, not remembered: a fresh controller (as
// after a manager restart) waits exactly the rest.
func TestQuarantineFromDeletionTimestamp(t *testing.T) {
	ns := namespace("quarantine-restart")
	ctx := t.Context()
	vips := server.Client.NetworkingV1alpha1().VirtualIPs(ns)
	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAddress(t, ns, "v")
	if err := vips.Delete(ctx, "v", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	vip, err := getVIP(ctx, ns, "v")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(server.Config, client.Options{Scheme: controllermanager.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	at := vip.DeletionTimestamp.Add(time.Hour - 10*time.Second)
	fresh := &publicaddress.Quarantine{Client: c, Duration: time.Hour, Now: func() time.Time { return at }}
	result, err := fresh.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(vip)})
	if err != nil || result.RequeueAfter != 10*time.Second {
		t.Errorf("a fresh controller with a 1h quarantine, 10s before its end: %+v, %v; want a requeue after 10s", result, err)
	}
	at = vip.DeletionTimestamp.Add(time.Hour)
	if _, err := fresh.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(vip)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "VirtualIP v", func(ctx context.Context) error { _, err := getVIP(ctx, ns, "v"); return err })
}
