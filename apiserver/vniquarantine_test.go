package apiserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
	networkingac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/registry/networking/network"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// dropFinalizers removes every finalizer of a network, as the network protection controller
// does once no interface uses it (no controller manager runs in these tests).
func dropFinalizers(ctx context.Context, t *testing.T, client versioned.Interface, namespace, name string) {
	t.Helper()
	_, err := client.NetworkingV1alpha1().Networks(namespace).Patch(ctx, name, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("removing the finalizers of %s/%s: %v", namespace, name, err)
	}
	if _, err := client.NetworkingV1alpha1().Networks(namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("network %s/%s after its finalizers went: %v, want NotFound", namespace, name, err)
	}
}

// TestVNIQuarantine fills a three-VNI range, deletes one network and checks that its VNI is
// released only once the network is gone from etcd, and then stays out of use for the
// quarantine: on the same apiserver, after that apiserver restarts on the same etcd, and on a
// second apiserver sharing the etcd. A full range is a 507. When the quarantine is over, the VNI
// is handed out again.
func TestVNIQuarantine(t *testing.T) {
	const quarantine = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	configure := func(o *apiserver.Options) {
		o.VNI.Min, o.VNI.Max, o.VNI.Quarantine = 100, 102, quarantine
	}
	dir := t.TempDir()
	first := startVNIServer(t, dir, configure)
	const ns = "quarantine"
	networks := first.client.NetworkingV1alpha1().Networks(ns)

	var held []*networkingv1alpha1.Network
	for i := range 3 {
		created, err := networks.Create(ctx, networkNamed(fmt.Sprintf("net-%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if created.Status.VNI < 100 || created.Status.VNI > 102 || !slices.Contains(created.Finalizers, network.ProtectionFinalizer) {
			t.Fatalf("%s: VNI %d, finalizers %v; want a VNI in 100-102 and %s", created.Name, created.Status.VNI, created.Finalizers, network.ProtectionFinalizer)
		}
		held = append(held, created)
	}
	_, err := networks.Create(ctx, networkNamed("overflow"), metav1.CreateOptions{})
	wantExhausted(t, err)

	// The delete request leaves the network waiting for its finalizer; its VNI stays taken.
	victim := held[0]
	if err := networks.Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waiting, err := networks.Get(ctx, victim.Name, metav1.GetOptions{})
	if err != nil || waiting.DeletionTimestamp == nil || waiting.Status.VNI != victim.Status.VNI {
		t.Fatalf("after the delete request: %v, %+v; want the network still there, being deleted, with VNI %d", err, waiting, victim.Status.VNI)
	}
	_, err = networks.Create(ctx, networkNamed("overflow"), metav1.CreateOptions{})
	wantExhausted(t, err)

	// Gone from etcd: the VNI goes into quarantine.
	released := time.Now()
	dropFinalizers(ctx, t, first.client, ns, victim.Name)

	// notReused creates a network through client and fails if it gets the released VNI before
	// the quarantine is over. It reports whether the create was refused, as expected while the
	// quarantine lasts (a very slow machine may be past it).
	notReused := func(client versioned.Interface, name, where string) {
		t.Helper()
		created, err := client.NetworkingV1alpha1().Networks(ns).Create(ctx, networkNamed(name), metav1.CreateOptions{})
		if err == nil {
			if time.Since(released) < quarantine {
				t.Fatalf("%s: %s got VNI %d %s after it was released, within the %s quarantine", where, name, created.Status.VNI, time.Since(released), quarantine)
			}
			t.Logf("%s: the quarantine was over before the check (slow machine); nothing to check", where)
			return
		}
		wantExhausted(t, err)
		if !strings.Contains(err.Error(), "quarantine") {
			t.Errorf("%s: the 507 does not mention the quarantine: %v", where, err)
		}
	}
	notReused(first.client, "same-server", "same apiserver")

	first.stop()
	restarted := startVNIServer(t, dir, configure)
	notReused(restarted.client, "after-restart", "restarted apiserver")

	second := startVNIServer(t, t.TempDir(), restarted.sharingEtcd(configure))
	notReused(second.client, "second-server", "second apiserver")

	// When the quarantine is over, etcd deletes the claim and the VNI is free again.
	var reused *networkingv1alpha1.Network
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, quarantine+90*time.Second, true, func(ctx context.Context) (bool, error) {
		reused, err = second.client.NetworkingV1alpha1().Networks(ns).Create(ctx, networkNamed("after-quarantine"), metav1.CreateOptions{})
		if err != nil {
			wantExhausted(t, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the VNI was not free again after the quarantine: %v", err)
	}
	if reused.Status.VNI != victim.Status.VNI || time.Since(released) < quarantine {
		t.Fatalf("after the quarantine: VNI %d %s after the release; want VNI %d, at least %s after", reused.Status.VNI, time.Since(released), victim.Status.VNI, quarantine)
	}
}

// TestVNIRepair plants claims whose network does not exist (a create that failed after its
// claim, an apiserver that died before a release) and one naming a stored network's name with
// another UID, and races server-side applies that create the same network (the losers claim a
// VNI before their write fails). The repair pass puts every such claim in quarantine, keeps the
// claims of stored networks, and gives back a stored network's deleted claim.
func TestVNIRepair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startVNIServer(t, t.TempDir(), func(o *apiserver.Options) {
		o.VNI.Min, o.VNI.Max = 1, 1000
		o.VNI.Quarantine = time.Hour // released claims stay visible
		o.VNI.RepairInterval, o.VNI.RepairGrace = 200*time.Millisecond, time.Second
	})
	claims := s.etcd(t)
	const ns = "repair"
	networks := s.client.NetworkingV1alpha1().Networks(ns)
	live, err := networks.Create(ctx, networkNamed("live"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := claims.Allocate(ctx, vni.Holder{Namespace: ns, Name: "never-stored", UID: "9d6c1a52-0000-4000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := claims.Allocate(ctx, vni.Holder{Namespace: ns, Name: "live", UID: "9d6c1a52-0000-4000-8000-000000000002"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := networks.Apply(ctx, networkingac.Network("applied", ns), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
				t.Errorf("apply: %v", err)
			}
		}()
	}
	wg.Wait()
	applied, err := networks.Get(ctx, "applied", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Every live claim in the namespace belongs to a stored network with that VNI.
	stored := map[int32]vni.Holder{
		live.Status.VNI:    {Namespace: ns, Name: live.Name, UID: live.UID},
		applied.Status.VNI: {Namespace: ns, Name: applied.Name, UID: applied.UID},
	}
	var last []string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		all, err := claims.Claims(ctx)
		if err != nil {
			return false, err
		}
		last = nil
		for _, claim := range all {
			if claim.Holder.Namespace == ns && claim.Released == nil && stored[claim.VNI] != claim.Holder {
				last = append(last, fmt.Sprintf("VNI %d held by %s (uid %s)", claim.VNI, claim.Holder, claim.Holder.UID))
			}
		}
		return len(last) == 0, nil
	})
	if err != nil {
		t.Fatalf("claims without their network were not reclaimed: %v", last)
	}
	for _, id := range []int32{orphan, stale} {
		claim, err := claims.Get(ctx, id)
		if err != nil || claim == nil || claim.Released == nil {
			t.Fatalf("planted claim of VNI %d: %+v, %v; want it in quarantine", id, claim, err)
		}
	}
	for id, holder := range stored {
		claim, err := claims.Get(ctx, id)
		if err != nil || claim == nil || !claim.HeldBy(holder) {
			t.Fatalf("claim of stored VNI %d: %+v, %v; want it held by its network", id, claim, err)
		}
	}

	// A stored network whose claim is lost gets it back.
	if err := claims.Free(ctx, live.Status.VNI, stored[live.Status.VNI]); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		claim, err := claims.Get(ctx, live.Status.VNI)
		return err == nil && claim != nil && claim.HeldBy(stored[live.Status.VNI]), err
	})
	if err != nil {
		t.Fatalf("the lost claim of a stored network was not restored: %v", err)
	}
}

// TestVNIReleasedWhenStatusUpdateDeletes checks the release also runs when the update that
// removes a deleted network's last finalizer goes through networks/status (which accepts
// finalizers): the claim is in quarantine as soon as that update returns.
func TestVNIReleasedWhenStatusUpdateDeletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startVNIServer(t, t.TempDir(), func(o *apiserver.Options) { o.VNI.Quarantine = time.Hour })
	claims := s.etcd(t)
	networks := s.client.NetworkingV1alpha1().Networks("status-delete")
	created, err := networks.Create(ctx, networkNamed("net"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := networks.Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleting, err := networks.Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleting.Finalizers = nil
	if _, err := networks.UpdateStatus(ctx, deleting, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := networks.Get(ctx, created.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("network after its last finalizer went through status: %v, want NotFound", err)
	}
	claim, err := claims.Get(ctx, created.Status.VNI)
	if err != nil || claim == nil || claim.Released == nil {
		t.Fatalf("claim of VNI %d after the network went: %+v, %v; want it in quarantine", created.Status.VNI, claim, err)
	}
}
