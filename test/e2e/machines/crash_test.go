//go:build e2e

package machines

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
)

// The machinepoollet killed with SIGKILL at three points of a create (right after it wrote its
// finalizer, when the provider has the machine but no running domain yet, and when the domain
// runs but the Machine does not say so yet) and started again: exactly one domain per Machine,
// and the Machine reaches Running.
func TestPoolletKilledDuringCreate(t *testing.T) {
	points := []struct {
		name    string
		reached func(m *computev1alpha1.Machine) bool
	}{
		{"after the finalizer", func(m *computev1alpha1.Machine) bool {
			return slices.Contains(m.Finalizers, machine.Finalizer)
		}},
		{"with the runtime machine pending", func(m *computev1alpha1.Machine) bool {
			return len(runtimeMachines(t, string(m.UID))) > 0
		}},
		{"with the domain running", func(m *computev1alpha1.Machine) bool {
			return domainState(t, string(m.UID)) == "running"
		}},
	}
	for i, point := range points {
		t.Run(point.name, func(t *testing.T) {
			m := newMachine(t, fmt.Sprintf("poollet-kill-%d", i), "", "")
			eventually(t, bootTimeout, "the kill point", func() error {
				current := getMachine(t, m.Name)
				if current == nil || current.UID == "" || !point.reached(current) {
					return fmt.Errorf("not yet")
				}
				return nil
			})
			cluster.KillPoollet()
			if err := cluster.StartPoollet(); err != nil {
				t.Fatal(err)
			}
			waitState(t, m.Name, computev1alpha1.MachineStateRunning, bootTimeout)
			if n := domainCount(t, string(m.UID)); n != 1 {
				t.Errorf("%d domains, want 1", n)
			}
			if n := len(runtimeMachines(t, string(m.UID))); n != 1 {
				t.Errorf("%d runtime machines, want 1", n)
			}
			deleteMachine(t, m)
		})
	}
}

// libvirt-provider killed while a machine is being created (its image pulled, its disks made)
// and started again: exactly one domain, and the machine runs.
func TestProviderKilledDuringCreate(t *testing.T) {
	m := newMachine(t, "provider-kill", "", "")
	eventually(t, bootTimeout, "the runtime machine", func() error {
		current := getMachine(t, m.Name)
		if current == nil || len(runtimeMachines(t, string(current.UID))) == 0 {
			return fmt.Errorf("not yet")
		}
		m = current
		return nil
	})
	cluster.KillProvider()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cluster.StartProvider(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, m.Name, computev1alpha1.MachineStateRunning, bootTimeout)
	if n := domainCount(t, string(m.UID)); n != 1 {
		t.Errorf("%d domains, want 1", n)
	}
	deleteMachine(t, m)
}

// libvirtd restarted under a running machine: the provider reconnects, the Machine stays
// Running, and a power change afterwards acts (so the provider really talks to the new daemon).
func TestLibvirtdRestart(t *testing.T) {
	m := newMachine(t, "libvirtd-restart", "", "")
	m = waitState(t, m.Name, computev1alpha1.MachineStateRunning, bootTimeout)
	hack := filepath.Join(root, "hack")
	if out, err := exec.Command(filepath.Join(hack, "libvirt-down.sh")).CombinedOutput(); err != nil {
		t.Fatalf("libvirt-down.sh: %v\n%s", err, out)
	}
	if out, err := exec.Command(filepath.Join(hack, "libvirt-up.sh")).CombinedOutput(); err != nil {
		t.Fatalf("libvirt-up.sh: %v\n%s", err, out)
	}
	if got := domainState(t, string(m.UID)); got != "running" {
		t.Fatalf("domain %q after the libvirtd restart, want running", got)
	}
	time.Sleep(5 * time.Second)
	if got := getMachine(t, m.Name).Status.State; got != computev1alpha1.MachineStateRunning {
		t.Errorf("Machine %s after the libvirtd restart, want Running", got)
	}
	kubectl(t, "patch", "machine", m.Name, "--type=merge", "-p", `{"spec":{"power":"Off"}}`)
	waitState(t, m.Name, computev1alpha1.MachineStateShutdown, 2*time.Minute)
	if got := domainState(t, string(m.UID)); got != "shut off" {
		t.Errorf("domain %q after power Off, want shut off", got)
	}
	deleteMachine(t, m)
}

// A domain defined by hand with the labels of a Machine that does not exist (as a crashed agent
// or an operator might leave one) is removed: the poollet's orphan sweep deletes it through the
// provider. A domain without Ferrite's metadata is never touched.
func TestOrphanedDomainIsReaped(t *testing.T) {
	m := newMachine(t, "orphan-template", "", "")
	m = waitState(t, m.Name, computev1alpha1.MachineStateRunning, bootTimeout)
	xml, err := suite.Virsh(t, "dumpxml", "--inactive", string(m.UID))
	if err != nil {
		t.Fatal(err)
	}
	orphan := string(uuid.NewUUID())
	xml = strings.ReplaceAll(xml, string(m.UID), orphan)
	xml = regexp.MustCompile(`(?s)<devices>.*</devices>`).ReplaceAllString(xml, "<devices><memballoon model='none'/></devices>")
	xml = regexp.MustCompile(`<name>[^<]*</name>`).ReplaceAllString(xml, "<name>ferrite-"+orphan+"</name>")
	xml = regexp.MustCompile(`(?s)<os>.*</os>`).ReplaceAllString(xml, "<os><type arch='x86_64'>hvm</type></os>")
	define(t, xml)
	foreign := `<domain type='qemu'><name>e2e-not-ferrite</name><memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os><devices><memballoon model='none'/></devices></domain>`
	define(t, foreign)
	defer suite.Virsh(t, "undefine", "e2e-not-ferrite")
	eventually(t, 3*time.Minute, "the orphaned domain reaped", func() error {
		if n := domainCount(t, orphan); n != 0 {
			return fmt.Errorf("%d domains", n)
		}
		return nil
	})
	if _, err := suite.Virsh(t, "domstate", "e2e-not-ferrite"); err != nil {
		t.Errorf("the domain without Ferrite metadata was removed: %v", err)
	}
	deleteMachine(t, m)
}

func define(t *testing.T, xml string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "domain.xml")
	if err := writeFile(path, xml); err != nil {
		t.Fatal(err)
	}
	if out, err := suite.Virsh(t, "define", path); err != nil {
		t.Fatalf("virsh define: %v\n%s\n%s", err, out, xml)
	}
}
