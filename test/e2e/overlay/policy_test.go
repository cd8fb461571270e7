//go:build e2e

package overlay

import (
	"testing"
	"time"
)

// A NetworkPolicy on b's interface lets a reach b's TCP port 8080 only: a's ping and its request
// to port 8081 are dropped, c in another network still reaches nothing; without the policy a
// reaches everything of b again.
func TestNetworkPolicy(t *testing.T) {
	startGuests(t)
	// Two web servers on b (busybox httpd), one allowed, one not; a asks with nc (busybox wget
	// crashes in the static build).
	if !inGuest(t, guestB, "mkdir -p /tmp/www && echo hello >/tmp/www/index.html && httpd -p 8080 -h /tmp/www && httpd -p 8081 -h /tmp/www", time.Minute) {
		t.Fatal("b cannot start its web servers")
	}
	get := func(port string) bool {
		return inGuest(t, guestA, `printf "GET /index.html HTTP/1.0\r\n\r\n" | nc -w 3 `+guestB.address+" "+port+" | grep -q hello", time.Minute)
	}
	if !get("8080") || !get("8081") || !ping(t, guestA, guestB.address) {
		t.Fatal("a does not reach b's servers and b before the policy")
	}
	suite.Apply(t, `apiVersion: networking.ferrite.dev/v1alpha1
kind: NetworkPolicy
metadata:
  name: b-web
spec:
  networkRef:
    name: blue
  networkInterfaceSelector:
    matchLabels:
      app: b
  policyTypes: [Ingress]
  ingress:
  - peers:
    - networkInterfaceSelector:
        matchLabels:
          app: a
    ports:
    - protocol: TCP
      port: 8080
`)
	deadline := time.Now().Add(time.Minute)
	for get("8081") {
		if time.Now().After(deadline) {
			t.Fatal("the policy never took effect: a still reaches b:8081")
		}
		time.Sleep(time.Second)
	}
	if !get("8080") {
		t.Errorf("the policy blocks a from b:8080, which it allows")
	}
	if ping(t, guestA, guestB.address) {
		t.Errorf("the policy lets a's ping to b through")
	}
	if !ping(t, guestB, guestA.address) {
		t.Errorf("b cannot ping a: an ingress policy on b must not stop b's own traffic and its replies")
	}
	suite.MustKubectl(t, "delete", "networkpolicy.networking.ferrite.dev", "b-web")
	deadline = time.Now().Add(time.Minute)
	for !get("8081") {
		if time.Now().After(deadline) {
			t.Fatal("a does not reach b:8081 after the policy is deleted")
		}
		time.Sleep(time.Second)
	}
	if !ping(t, guestA, guestB.address) {
		t.Errorf("a cannot ping b after the policy is deleted")
	}
}
