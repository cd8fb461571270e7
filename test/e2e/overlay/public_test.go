//go:build e2e

package overlay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// publicPool is the operator's pool of public addresses (ferrite-system, labelled for
// VirtualIPs); publicPrefix is what it holds.
const (
	publicPool      = "e2e-overlay-public"
	publicPrefix    = "198.51.100.0/28"
	publicNamespace = "ferrite-system"
	// guestPort is the web server port of the guests in these tests.
	guestPort = 8090
)

// Public addresses end to end, in the order a tenant meets them:
//   - a VirtualIP bound to a's interface: the outside host reaches a's web server at the
//     VirtualIP, and a's request to the outside host arrives from the VirtualIP;
//   - a NATGateway for blue: b (no VirtualIP) reaches the outside host from the gateway's
//     address and a port of its own range; a still leaves from its VirtualIP;
//   - c (red: neither) reaches nothing outside;
//   - a LoadBalancer over a and b: the outside host's requests reach both;
//   - deleting them takes every path away again.
func TestPublicAddresses(t *testing.T) {
	startGuests(t)
	ctx := t.Context()
	in, err := startInternet()
	if err != nil {
		t.Fatal(err)
	}
	defer in.stop()
	createPublicPool(t)
	for _, g := range []guest{guestA, guestB} {
		serve := fmt.Sprintf("mkdir -p /tmp/lb && echo guest-%s >/tmp/lb/index.html && httpd -p %d -h /tmp/lb", g.name, guestPort)
		if !inGuest(t, g, serve, time.Minute) {
			t.Fatalf("%s cannot start its web server", g.name)
		}
	}
	outside := fmt.Sprintf(`printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 %s %d | grep -q "from %%s:"`, internetHost, internetPort)

	// VirtualIP.
	suite.Apply(t, `apiVersion: networking.ferrite.dev/v1alpha1
kind: VirtualIP
metadata:
  name: a-public
spec:
  type: Public
  ipFamily: IPv4
`)
	nics := ferrite.NetworkingV1alpha1().NetworkInterfaces(namespace)
	bound := time.Now()
	if _, err := nics.Patch(ctx, guestA.name, types.MergePatchType, []byte(`{"spec":{"virtualIPRef":{"name":"a-public"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var vip string
	localtest.Eventually(t, time.Minute, "a's interface to get its VirtualIP", func() error {
		nic, err := nics.Get(ctx, guestA.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if vip = nic.Status.VirtualIP; vip == "" {
			return fmt.Errorf("no status.virtualIP yet")
		}
		return nil
	})
	t.Logf("a's VirtualIP: %s", vip)
	localtest.Eventually(t, time.Minute, "the outside host to reach a at its VirtualIP", func() error {
		body, err := fetchFromInternet(ctx, fmt.Sprintf("http://%s:%d/", vip, guestPort))
		if err != nil {
			return err
		}
		if !strings.Contains(body, "guest-a") {
			return fmt.Errorf("answer %q is not a's", body)
		}
		return nil
	})
	t.Logf("FIGURE virtualIPRef set to the outside host reaching a at its VirtualIP: %.1f s", time.Since(bound).Seconds())
	before := in.count()
	if !inGuest(t, guestA, fmt.Sprintf(outside, vip), time.Minute) {
		t.Errorf("a's request to the outside host does not come from its VirtualIP %s (seen: %v)", vip, in.since(before))
	}

	// NATGateway.
	natCreated := time.Now()
	suite.Apply(t, `apiVersion: networking.ferrite.dev/v1alpha1
kind: NATGateway
metadata:
  name: blue-nat
spec:
  type: Public
  ipFamily: IPv4
  networkRef:
    name: blue
  portsPerNetworkInterface: 64
`)
	var share *networkingv1alpha1.NATAssignment
	localtest.Eventually(t, time.Minute, "b's interface to get a share of the NAT gateway", func() error {
		nic, err := nics.Get(ctx, guestB.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if share = nic.Status.NAT; share == nil {
			return fmt.Errorf("no status.nat yet")
		}
		return nil
	})
	t.Logf("b's NAT share: %s ports %d-%d", share.IP, share.PortMin, share.PortMax)
	if nic, err := nics.Get(ctx, guestA.name, metav1.GetOptions{}); err != nil || nic.Status.NAT != nil {
		t.Errorf("a, which has a VirtualIP, holds a NAT share: %+v, %v", nic.Status.NAT, err)
	}
	before = in.count()
	ok := false
	deadline := time.Now().Add(time.Minute)
	for !ok && time.Now().Before(deadline) {
		ok = inGuest(t, guestB, fmt.Sprintf(outside, share.IP), time.Minute)
	}
	t.Logf("FIGURE NATGateway created to b reaching the outside host through it: %.1f s", time.Since(natCreated).Seconds())
	if !ok {
		t.Errorf("b's request to the outside host does not come from the NAT address %s (seen: %v)", share.IP, in.since(before))
	}
	for _, peer := range in.since(before) {
		if peer.Addr().String() == share.IP && (int32(peer.Port()) < share.PortMin || int32(peer.Port()) > share.PortMax) {
			t.Errorf("b's request came from port %d, outside its range %d-%d", peer.Port(), share.PortMin, share.PortMax)
		}
	}
	before = in.count()
	if !inGuest(t, guestA, fmt.Sprintf(outside, vip), time.Minute) {
		t.Errorf("with a NAT gateway, a no longer leaves from its VirtualIP %s (seen: %v)", vip, in.since(before))
	}
	if inGuest(t, guestC, fmt.Sprintf("nc -w 3 %s %d </dev/null", internetHost, internetPort), time.Minute) {
		t.Errorf("c, in red with neither a VirtualIP nor a NAT gateway, reaches the outside host")
	}

	// LoadBalancer over a and b.
	lbCreated := time.Now()
	suite.Apply(t, fmt.Sprintf(`apiVersion: networking.ferrite.dev/v1alpha1
kind: LoadBalancer
metadata:
  name: blue-web
spec:
  type: Public
  networkRef:
    name: blue
  networkInterfaceSelector:
    matchExpressions:
    - {key: app, operator: In, values: [a, b]}
  ports:
  - protocol: TCP
    port: %d
`, guestPort))
	var lbIP string
	localtest.Eventually(t, time.Minute, "the load balancer's address", func() error {
		lb, err := ferrite.NetworkingV1alpha1().LoadBalancers(namespace).Get(ctx, "blue-web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(lb.Status.IPs) == 0 {
			return fmt.Errorf("no status.ips yet")
		}
		lbIP = lb.Status.IPs[0]
		return nil
	})
	t.Logf("load balancer address: %s", lbIP)
	answered := map[string]int{}
	deadline = time.Now().Add(2 * time.Minute)
	for requests := 0; (requests < 20 || answered["guest-a"] == 0 || answered["guest-b"] == 0) && time.Now().Before(deadline); requests++ {
		body, err := fetchFromInternet(ctx, fmt.Sprintf("http://%s:%d/", lbIP, guestPort))
		if err != nil {
			answered["error"]++
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if answered["guest-a"]+answered["guest-b"] == 0 {
			t.Logf("FIGURE LoadBalancer created to its first answer from the outside: %.1f s", time.Since(lbCreated).Seconds())
		}
		answered[strings.TrimSpace(body)]++
	}
	t.Logf("load balancer answers: %v", answered)
	if answered["guest-a"] == 0 || answered["guest-b"] == 0 {
		t.Errorf("the load balancer did not reach both targets: %v", answered)
	}
	if _, err := fetchFromInternet(ctx, fmt.Sprintf("http://%s:%d/", lbIP, internetPort)); err == nil {
		t.Errorf("the load balancer answers on port %d, which it does not balance", internetPort)
	}

	// Deleting takes every path away.
	suite.MustKubectl(t, "delete", "loadbalancer.networking.ferrite.dev", "blue-web")
	suite.MustKubectl(t, "delete", "natgateway.networking.ferrite.dev", "blue-nat")
	// The VirtualIP stays terminating for the address quarantine (3 minutes); its binding goes at once.
	suite.MustKubectl(t, "delete", "--wait=false", "virtualip.networking.ferrite.dev", "a-public")
	localtest.Eventually(t, time.Minute, "the public services to be gone", func() error {
		if _, err := fetchFromInternet(ctx, fmt.Sprintf("http://%s:%d/", vip, guestPort)); err == nil {
			return fmt.Errorf("the outside host still reaches a at %s", vip)
		}
		if _, err := fetchFromInternet(ctx, fmt.Sprintf("http://%s:%d/", lbIP, guestPort)); err == nil {
			return fmt.Errorf("the outside host still reaches the load balancer at %s", lbIP)
		}
		for _, g := range []guest{guestA, guestB} {
			nic, err := nics.Get(ctx, g.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if nic.Status.VirtualIP != "" || nic.Status.NAT != nil {
				return fmt.Errorf("%s still has public status %q %+v", g.name, nic.Status.VirtualIP, nic.Status.NAT)
			}
		}
		return nil
	})
	for _, g := range []guest{guestA, guestB} {
		if inGuest(t, g, fmt.Sprintf("nc -w 3 %s %d </dev/null", internetHost, internetPort), time.Minute) {
			t.Errorf("%s still reaches the outside host after its public services are gone", g.name)
		}
	}
	if !ping(t, guestA, guestB.address) {
		t.Errorf("a cannot ping b after the public services are gone")
	}
}

// createPublicPool makes the operator's public address pool (once per run).
func createPublicPool(t *testing.T) {
	t.Helper()
	_, err := ferrite.IpamV1alpha1().Prefixes(publicNamespace).Create(t.Context(), &ipamv1alpha1.Prefix{
		ObjectMeta: metav1.ObjectMeta{Name: publicPool, Labels: map[string]string{"ipam.ferrite.dev/virtual-ips": "true"}},
		Spec:       ipamv1alpha1.PrefixSpec{Prefix: publicPrefix},
	}, metav1.CreateOptions{})
	if err != nil && !errors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
