//go:build e2e

package brokers

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	brokermachine "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// The region's machinebroker is killed (SIGKILL) in the middle of a create, at the moment its
// first object appears in the zone: once as the user-data Secret appears (before the interface
// and the Machine), once as the NetworkInterface does (before the Machine). Started again, it
// completes the create the poollet retries, and the zone holds exactly one Machine, one
// interface and one Secret for the region Machine.
func TestBrokerKilledMidCreate(t *testing.T) {
	restartBrokersAfter(t)
	region.suite.Apply(t, "apiVersion: networking.ferrite.dev/v1alpha1\nkind: Network\nmetadata: {name: crash-net}\n")
	t.Cleanup(func() { region.suite.Kubectl(t, "delete", "network/crash-net", "--wait=false") })
	for _, round := range []struct {
		name, killOn string
	}{{"crash-secret", "Secret"}, {"crash-nic", "NetworkInterface"}} {
		t.Run(round.killOn, func(t *testing.T) {
			t.Cleanup(func() {
				region.suite.Kubectl(t, "delete", "machine/"+round.name, "secret/"+round.name+"-ignition", "--wait=false")
			})
			killed := killBrokerOnFirst(t, round.killOn)
			region.suite.Apply(t, ignitionManifest(round.name+"-ignition", round.name)+"---\n"+machineManifest(round.name,
				"  ignitionRef: {name: "+round.name+"-ignition}\n  networkInterfaces:\n  - name: eth0\n    ephemeral:\n      networkRef: {name: crash-net}\n      ips: [10.1.0.7]\n"))
			select {
			case what := <-killed:
				t.Logf("machinebroker killed as the zone's %s appeared", what)
			case <-time.After(bootTimeout):
				t.Fatalf("no %s appeared in the zone", round.killOn)
			}
			uid := region.machine(t, namespace, round.name).UID
			left := zone.machine(t, regionBrokers, below(uid))
			t.Logf("left by the killed create: zone Machine %v", left != nil)

			if err := regionBroker.StartMachineBroker(context.Background()); err != nil {
				t.Fatal(err)
			}
			c := follow(t, []*level{region, zone}, []string{regionBrokers}, namespace, round.name)
			c.waitState(t, computev1alpha1.MachineStateRunning)
			if n := zone.machinesWithID(t, regionBrokers, uid); n != 1 {
				t.Errorf("%d zone Machines with the region Machine's ID, want exactly 1", n)
			}
			selector := metav1.ListOptions{LabelSelector: brokermachine.LabelID + "=" + string(uid)}
			nics, err := zone.ferrite.NetworkingV1alpha1().NetworkInterfaces(regionBrokers).List(context.Background(), selector)
			if err != nil {
				t.Fatal(err)
			}
			secrets, err := zone.kube.CoreV1().Secrets(regionBrokers).List(context.Background(), selector)
			if err != nil {
				t.Fatal(err)
			}
			if len(nics.Items) != 1 || len(secrets.Items) != 1 {
				t.Errorf("%d NetworkInterfaces and %d Secrets in the zone for the Machine, want 1 each", len(nics.Items), len(secrets.Items))
			}
			region.suite.MustKubectl(t, "delete", "machine/"+round.name, "--wait=false")
			c.waitGone(t)
		})
	}
}

// restartBrokersAfter starts the region's brokers again when the test ends, in case it failed
// while they were down.
func restartBrokersAfter(t *testing.T) {
	t.Cleanup(func() {
		ctx := context.Background()
		if err := regionBroker.StartMachineBroker(ctx); err != nil {
			t.Error(err)
		}
		if err := regionBroker.StartVolumeBroker(ctx); err != nil {
			t.Error(err)
		}
	})
}

// killBrokerOnFirst watches the zone for the next object of kind (Secret or NetworkInterface)
// with a broker ID label and kills the region's machinebroker the moment it is added; the
// returned channel says so.
func killBrokerOnFirst(t *testing.T, kind string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	options := metav1.ListOptions{LabelSelector: brokermachine.LabelID}
	var w watch.Interface
	var err error
	switch kind {
	case "Secret":
		var list, _ = zone.kube.CoreV1().Secrets(regionBrokers).List(ctx, options)
		options.ResourceVersion = list.ResourceVersion
		w, err = zone.kube.CoreV1().Secrets(regionBrokers).Watch(ctx, options)
	default:
		var list, _ = zone.ferrite.NetworkingV1alpha1().NetworkInterfaces(regionBrokers).List(ctx, options)
		options.ResourceVersion = list.ResourceVersion
		w, err = zone.ferrite.NetworkingV1alpha1().NetworkInterfaces(regionBrokers).Watch(ctx, options)
	}
	if err != nil {
		t.Fatal(err)
	}
	killed := make(chan string, 1)
	go func() {
		defer w.Stop()
		for event := range w.ResultChan() {
			if event.Type == watch.Added {
				regionBroker.KillMachineBroker()
				killed <- kind
				return
			}
		}
	}()
	return killed
}

// Machines and Volumes deleted in the region while its brokers are down are cleaned up in the
// zone once the brokers start again: one deleted normally (its poollet's finalizer holds it
// until the zone's Machine is gone), and one whose region Machine is gone altogether (its
// finalizer removed by force), which the poollet's orphan sweep finds.
func TestDeleteWhileBrokerDown(t *testing.T) {
	restartBrokersAfter(t)
	region.suite.Apply(t, machineManifest("down-a", "")+"---\n"+machineManifest("down-b", "")+`---
apiVersion: storage.ferrite.dev/v1alpha1
kind: Volume
metadata: {name: down-volume}
spec:
  volumeClassRef: {name: `+volumeClass+`}
  resources: {storage: 32Mi}
`)
	a := follow(t, []*level{region, zone}, []string{regionBrokers}, namespace, "down-a")
	b := follow(t, []*level{region, zone}, []string{regionBrokers}, namespace, "down-b")
	a.waitState(t, computev1alpha1.MachineStateRunning)
	b.waitState(t, computev1alpha1.MachineStateRunning)
	volume := region.waitVolume(t, namespace, "down-volume")
	zoneVolume := "v-" + string(volume.UID)
	zone.waitVolume(t, regionBrokers, zoneVolume)

	regionBroker.KillMachineBroker()
	regionBroker.KillVolumeBroker()
	region.suite.MustKubectl(t, "delete", "machine/down-a", "machine/down-b", "volume/down-volume", "--wait=false")
	// down-b's region Machine goes away at once, as if an operator forced it.
	region.suite.MustKubectl(t, "patch", "machine", "down-b", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	region.waitMachineGone(t, namespace, "down-b", time.Minute)
	time.Sleep(5 * time.Second)
	if region.machine(t, namespace, "down-a") == nil || region.volume(t, namespace, "down-volume") == nil {
		t.Fatal("the region Machine down-a or Volume down-volume went away while the brokers were down: nothing held them")
	}
	for _, c := range []*chain{a, b} {
		if zone.machine(t, regionBrokers, c.names[1]) == nil {
			t.Fatalf("the zone Machine %s went away while the brokers were down", c.names[1])
		}
	}

	ctx := context.Background()
	if err := regionBroker.StartMachineBroker(ctx); err != nil {
		t.Fatal(err)
	}
	if err := regionBroker.StartVolumeBroker(ctx); err != nil {
		t.Fatal(err)
	}
	a.waitGone(t)
	b.waitGone(t)
	localtest.Eventually(t, 3*time.Minute, "the Volume gone in the region and the zone", func() error {
		if region.volume(t, namespace, "down-volume") != nil || zone.volume(t, regionBrokers, zoneVolume) != nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
}
