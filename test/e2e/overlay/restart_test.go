//go:build e2e

package overlay

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// routeWatch polls a hypervisor's table of a VNI for a route and counts the polls that miss it.
type routeWatch struct {
	polls, misses int
	mu            sync.Mutex
}

func watchRoute(ctx context.Context, ns string, vni uint32, address string) *routeWatch {
	w := &routeWatch{}
	go func() {
		table := fmt.Sprint(1_000_000 + vni)
		for ctx.Err() == nil {
			out, _ := exec.Command("ip", "-n", ns, "route", "show", "table", table).CombinedOutput()
			w.mu.Lock()
			w.polls++
			if !strings.Contains(string(out), address+" ") {
				w.misses++
			}
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return w
}

func (w *routeWatch) result() (polls, misses int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, w.misses
}

// Killing one reflector, then one agent (SIGKILL, as crashes), and starting them again never
// removes a route from either hypervisor's kernel (graceful restart keeps them while the
// sessions come back), and the guests still reach each other afterwards.
func TestRestartsKeepForwarding(t *testing.T) {
	startGuests(t)
	network, err := ferrite.NetworkingV1alpha1().Networks(namespace).Get(t.Context(), "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vni := uint32(network.Status.VNI)
	if !ping(t, guestA, guestB.address) {
		t.Fatal("a cannot ping b before the restarts")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	toB := watchRoute(ctx, hypervisors[0].ns, vni, guestB.address)
	toA := watchRoute(ctx, hypervisors[1].ns, vni, guestA.address)

	lab.mu.Lock()
	reflector, agent := lab.reflectors[0], lab.agents[1]
	lab.mu.Unlock()
	signal(reflector, os.Kill)
	time.Sleep(5 * time.Second)
	if err := lab.startReflector(0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	signal(agent, os.Kill)
	time.Sleep(5 * time.Second)
	if err := lab.startAgent(1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second)
	cancel()
	for name, w := range map[string]*routeWatch{"h1's route to b": toB, "h2's route to a": toA} {
		polls, misses := w.result()
		t.Logf("%s: present in %d of %d polls over the restarts", name, polls-misses, polls)
		if polls == 0 || misses > 0 {
			t.Errorf("%s was missing in %d of %d polls", name, misses, polls)
		}
	}
	if !ping(t, guestA, guestB.address) || !ping(t, guestB, guestA.address) {
		t.Errorf("a and b do not reach each other after the restarts")
	}
}
