//go:build e2e

package overlay

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// networksManifest is the two networks, peered with each other or not.
func networksManifest(peered bool) string {
	blue, red := "", ""
	if peered {
		blue = "\nspec:\n  peerings:\n  - name: to-red\n    networkRef:\n      name: red"
		red = "\nspec:\n  peerings:\n  - name: to-blue\n    networkRef:\n      name: blue"
	}
	return fmt.Sprintf("apiVersion: networking.ferrite.dev/v1alpha1\nkind: Network\nmetadata:\n  name: blue%s\n---\n"+
		"apiVersion: networking.ferrite.dev/v1alpha1\nkind: Network\nmetadata:\n  name: red%s\n", blue, red)
}

// A peering that only red asks for changes nothing; once blue agrees, c (red, on h2) reaches a
// (blue, on h1) and b (blue, on h2); when it ends, the networks are apart again.
func TestPeering(t *testing.T) {
	startGuests(t)
	defer suite.Apply(t, networksManifest(false))
	suite.Apply(t, "apiVersion: networking.ferrite.dev/v1alpha1\nkind: Network\nmetadata:\n  name: red\nspec:\n  peerings:\n  - name: to-blue\n    networkRef:\n      name: blue\n")
	time.Sleep(15 * time.Second) // longer than the agents' network refresh
	if ping(t, guestC, guestA.address) {
		t.Errorf("c reaches a while only red asks for the peering")
	}
	suite.Apply(t, networksManifest(true))
	localtest.Eventually(t, time.Minute, "both peerings in effect", func() error {
		for _, n := range []string{"blue", "red"} {
			network, err := ferrite.NetworkingV1alpha1().Networks(namespace).Get(t.Context(), n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(network.Status.Peerings) != 1 || !slices.Contains([]string{"to-red", "to-blue"}, network.Status.Peerings[0]) {
				return fmt.Errorf("%s: status.peerings %v", n, network.Status.Peerings)
			}
		}
		return nil
	})
	deadline := time.Now().Add(time.Minute)
	for !ping(t, guestC, guestA.address) {
		if time.Now().After(deadline) {
			t.Fatal("c (red) does not reach a (blue, another host) with the peering")
		}
	}
	if !ping(t, guestC, guestB.address) {
		t.Errorf("c (red) does not reach b (blue, the same host) with the peering")
	}
	if !ping(t, guestA, guestC.address) {
		t.Errorf("a (blue) does not reach c (red) with the peering")
	}
	suite.Apply(t, networksManifest(false))
	deadline = time.Now().Add(time.Minute)
	for ping(t, guestC, guestA.address) {
		if time.Now().After(deadline) {
			t.Fatal("c still reaches a a minute after the peering ended")
		}
	}
}
