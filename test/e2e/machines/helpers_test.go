//go:build e2e

package machines

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// bootTimeout bounds a machine's way from create to a guest that printed its user data: the
// scheduler, the image pull, define and start, and a kernel boot under TCG.
const bootTimeout = 3 * time.Minute

// newMachine creates a Machine of the test class booting image (the guest image when empty),
// with ignition, when not empty, in a Secret of its own.
func newMachine(t *testing.T, name, image, ignition string) *computev1alpha1.Machine {
	t.Helper()
	ctx := context.Background()
	if image == "" {
		image = pool.GuestImage
	}
	m := &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: class},
			Power:           computev1alpha1.PowerOn,
			Image:           image,
		},
	}
	if ignition != "" {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-ignition", Namespace: namespace},
			Data: map[string][]byte{machine.DefaultIgnitionKey: []byte(ignition)}}
		if _, err := kube.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		m.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: secret.Name}
	}
	created, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, m, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func getMachine(t *testing.T, name string) *computev1alpha1.Machine {
	t.Helper()
	m, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitState waits for the Machine's status.state.
func waitState(t *testing.T, name string, state computev1alpha1.MachineState, timeout time.Duration) *computev1alpha1.Machine {
	t.Helper()
	var m *computev1alpha1.Machine
	eventually(t, timeout, fmt.Sprintf("Machine %s in state %s", name, state), func() error {
		if m = getMachine(t, name); m == nil {
			return fmt.Errorf("no Machine")
		}
		if m.Status.State != state {
			c := meta.FindStatusCondition(m.Status.Conditions, machine.ConditionReady)
			return fmt.Errorf("state %q, Ready %+v", m.Status.State, c)
		}
		return nil
	})
	return m
}

// deleteMachine deletes the Machine and waits until it is gone, with no domain left.
func deleteMachine(t *testing.T, m *computev1alpha1.Machine) {
	t.Helper()
	err := ferrite.ComputeV1alpha1().Machines(namespace).Delete(context.Background(), m.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "Machine "+m.Name+" gone", func() error {
		if getMachine(t, m.Name) != nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if n := domainCount(t, string(m.UID)); n != 0 {
		t.Errorf("%d domains left for the deleted Machine %s", n, m.Name)
	}
}

// domainState is virsh's state of the machine's domain ("running", "shut off"), "" when there
// is none.
func domainState(t *testing.T, uid string) string {
	t.Helper()
	out, err := suite.Virsh(t, "domstate", uid)
	if err != nil {
		return ""
	}
	return out
}

// domainCount is how many libvirt domains belong to the machine uid: by UUID, and by name (in
// case a provider ever defined one under another UUID).
func domainCount(t *testing.T, uid string) int {
	t.Helper()
	out, err := suite.Virsh(t, "list", "--all", "--uuid")
	if err != nil {
		t.Fatalf("virsh list: %v %s", err, out)
	}
	n := 0
	for _, line := range strings.Fields(out) {
		if line == uid {
			n++
		}
	}
	names, _ := suite.Virsh(t, "list", "--all", "--name")
	for _, name := range strings.Fields(names) {
		if strings.Contains(name, uid) {
			if id, _ := suite.Virsh(t, "domuuid", name); id != uid {
				n++
			}
		}
	}
	return n
}

// runtimeMachines lists the provider's machines of the Machine uid.
func runtimeMachines(t *testing.T, uid string) []*runtimev1alpha1.Machine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := runtime.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{
		LabelSelector: map[string]string{machine.LabelMachineUID: uid},
	}})
	if err != nil {
		return nil
	}
	return resp.GetMachines()
}

// consoleLog is what `kubectl ferrite console NAME --logs` prints.
func consoleLog(t *testing.T, name string) (string, error) {
	t.Helper()
	return suite.ConsoleLog(t, name)
}

// waitConsole waits until the machine's console log holds every one of texts.
func waitConsole(t *testing.T, name string, timeout time.Duration, texts ...string) string {
	t.Helper()
	return suite.WaitConsole(t, name, timeout, texts...)
}

// events are the Events recorded on the Machine name, as "Type Reason: note" lines.
func events(t *testing.T, name string) []string {
	t.Helper()
	return suite.Events(t, name)
}
