//go:build e2e

package brokers

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	brokermachine "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// bootTimeout bounds a machine's way from create to Running through up to two brokers: the
// schedulers and poollets of every level, the image pull, define and start.
const bootTimeout = 4 * time.Minute

// consoleTimeout bounds a guest's boot under TCG to the lines it prints when ready.
const consoleTimeout = 4 * time.Minute

// machineManifest is a Machine of the test class booting the guest image, powered on, with
// extra appended to its spec (indented by two spaces).
func machineManifest(name, extra string) string {
	return fmt.Sprintf(`apiVersion: compute.ferrite.dev/v1alpha1
kind: Machine
metadata: {name: %s}
spec:
  machineClassRef: {name: %s}
  power: "On"
  image: %s
%s`, name, machineClass, zonePool.GuestImage, extra)
}

// ignitionManifest is a Secret holding an Ignition config whose extra field the guest prints.
func ignitionManifest(name, text string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s}
stringData:
  ignition.json: '{"ignition":{"version":"3.4.0"},"e2e":"%s"}'
`, name, text)
}

// machine is the Machine ns/name of the level, nil when there is none.
func (l *level) machine(t testing.TB, ns, name string) *computev1alpha1.Machine {
	t.Helper()
	m, err := l.ferrite.ComputeV1alpha1().Machines(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	return m
}

// waitMachine waits until the Machine ns/name of the level is in state.
func (l *level) waitMachine(t testing.TB, ns, name string, state computev1alpha1.MachineState, timeout time.Duration) *computev1alpha1.Machine {
	t.Helper()
	var m *computev1alpha1.Machine
	localtest.Eventually(t, timeout, fmt.Sprintf("%s: Machine %s/%s %s", l.name, ns, name, state), func() error {
		if m = l.machine(t, ns, name); m == nil {
			return fmt.Errorf("no Machine")
		}
		if m.Status.State != state {
			return fmt.Errorf("state %q, Ready %+v", m.Status.State, meta.FindStatusCondition(m.Status.Conditions, "Ready"))
		}
		return nil
	})
	return m
}

// waitMachineGone waits until the Machine ns/name of the level no longer exists.
func (l *level) waitMachineGone(t testing.TB, ns, name string, timeout time.Duration) {
	t.Helper()
	localtest.Eventually(t, timeout, fmt.Sprintf("%s: Machine %s/%s gone", l.name, ns, name), func() error {
		if m := l.machine(t, ns, name); m != nil {
			return fmt.Errorf("still there, state %q, deleting since %v", m.Status.State, m.DeletionTimestamp)
		}
		return nil
	})
}

// deleteMachine deletes the Machine ns/name of the level (gone or not).
func (l *level) deleteMachine(t testing.TB, ns, name string) {
	t.Helper()
	err := l.ferrite.ComputeV1alpha1().Machines(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("%s: %v", l.name, err)
	}
}

// volume is the Volume ns/name of the level, nil when there is none.
func (l *level) volume(t testing.TB, ns, name string) *storagev1alpha1.Volume {
	t.Helper()
	v, err := l.ferrite.StorageV1alpha1().Volumes(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	return v
}

// waitVolume waits until the Volume ns/name of the level is Available.
func (l *level) waitVolume(t testing.TB, ns, name string) *storagev1alpha1.Volume {
	t.Helper()
	var v *storagev1alpha1.Volume
	localtest.Eventually(t, 3*time.Minute, fmt.Sprintf("%s: Volume %s/%s Available", l.name, ns, name), func() error {
		if v = l.volume(t, ns, name); v == nil {
			return fmt.Errorf("no Volume")
		}
		if v.Status.State != storagev1alpha1.VolumeStateAvailable || v.Status.Access == nil {
			return fmt.Errorf("state %q, conditions %+v", v.Status.State, v.Status.Conditions)
		}
		return nil
	})
	return v
}

// below is the name a broker gives, in the cluster below, to the Machine made for uid.
func below(uid types.UID) string { return brokermachine.MachineName(string(uid)) }

// machinesWithID counts the Machines in ns of the level that carry the broker ID label of uid.
func (l *level) machinesWithID(t testing.TB, ns string, uid types.UID) int {
	t.Helper()
	list, err := l.ferrite.ComputeV1alpha1().Machines(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: brokermachine.LabelID + "=" + brokermachine.Ref(string(uid))})
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	return len(list.Items)
}

// domainState is libvirt's state of the domain of the zone Machine uid ("running", "shut off"),
// "" when there is none.
func domainState(t testing.TB, uid types.UID) string {
	t.Helper()
	out, err := zone.suite.Virsh(t, "domstate", string(uid))
	if err != nil {
		return ""
	}
	return out
}

// waitDomain waits until the domain of the zone Machine uid is in state ("" for gone).
func waitDomain(t testing.TB, uid types.UID, state string) {
	t.Helper()
	localtest.Eventually(t, 2*time.Minute, fmt.Sprintf("domain %s %q", uid, state), func() error {
		if got := domainState(t, uid); got != state {
			return fmt.Errorf("domain state %q", got)
		}
		return nil
	})
}

// chain is one Machine seen at every level it passes: the Machine a user made at the top, and
// the one each broker made below it, down to the zone's, whose UID names the libvirt domain.
type chain struct {
	levels []*level
	// namespaces and names of the Machine at each level.
	namespaces, names []string
	uids              []types.UID
}

// follow waits, from the Machine ns/name of levels[0], for the Machine each broker made below
// it to exist, and returns the chain.
func follow(t testing.TB, levels []*level, brokerNamespaces []string, ns, name string) *chain {
	t.Helper()
	c := &chain{levels: levels, namespaces: []string{ns}, names: []string{name}}
	for i, l := range levels {
		var m *computev1alpha1.Machine
		localtest.Eventually(t, bootTimeout, fmt.Sprintf("%s: Machine %s/%s", l.name, c.namespaces[i], c.names[i]), func() error {
			if m = l.machine(t, c.namespaces[i], c.names[i]); m == nil {
				return fmt.Errorf("not there")
			}
			return nil
		})
		c.uids = append(c.uids, m.UID)
		if i+1 < len(levels) {
			c.namespaces = append(c.namespaces, brokerNamespaces[i])
			c.names = append(c.names, below(m.UID))
		}
	}
	return c
}

// waitState waits until the Machine is in state at every level.
func (c *chain) waitState(t testing.TB, state computev1alpha1.MachineState) {
	t.Helper()
	for i := len(c.levels) - 1; i >= 0; i-- {
		c.levels[i].waitMachine(t, c.namespaces[i], c.names[i], state, bootTimeout)
	}
}

// waitGone waits until the Machine is gone at every level, and its domain too.
func (c *chain) waitGone(t testing.TB) {
	t.Helper()
	for i, l := range c.levels {
		l.waitMachineGone(t, c.namespaces[i], c.names[i], 3*time.Minute)
	}
	waitDomain(t, c.domain(), "")
}

// domain is the UID of the zone's Machine: the libvirt domain's name.
func (c *chain) domain() types.UID { return c.uids[len(c.uids)-1] }

// events are the Events about ns/name in the level, as "Type Reason: note" lines.
func (l *level) events(t testing.TB, ns, name string) []string {
	t.Helper()
	list, err := l.kube.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "regarding.name=" + name})
	if err != nil {
		t.Fatalf("%s: %v", l.name, err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Note))
	}
	return out
}

// waitEventsPassedUp waits until an Event recorded on the zone's Machine of the chain (by the
// zone's poollet) is also on the top level's Machine: the brokers passed it up.
func (c *chain) waitEventsPassedUp(t testing.TB) {
	t.Helper()
	last := len(c.levels) - 1
	localtest.Eventually(t, 2*time.Minute, "an Event of the zone's Machine on the "+c.levels[0].name+" Machine", func() error {
		below := c.levels[last].events(t, c.namespaces[last], c.names[last])
		top := c.levels[0].events(t, c.namespaces[0], c.names[0])
		for _, e := range below {
			if slices.Contains(top, e) {
				t.Logf("passed up from the zone to %s: %s", c.levels[0].name, e)
				return nil
			}
		}
		return fmt.Errorf("zone events %q, %s events %q", below, c.levels[0].name, top)
	})
}
