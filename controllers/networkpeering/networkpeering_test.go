package networkpeering_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-networkpeering-test-")
	if err != nil {
		panic(err)
	}
	if server, err = testserver.StartInDir(dir); err != nil {
		panic(err)
	}
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startController(t *testing.T) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := controllermanager.AddNetworkPeering(ctx, mgr, nil, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func network(name string, peers ...networkingv1alpha1.NetworkPeering) *networkingv1alpha1.Network {
	return &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1alpha1.NetworkSpec{Peerings: peers}}
}

func peering(name, namespace, target string) networkingv1alpha1.NetworkPeering {
	return networkingv1alpha1.NetworkPeering{Name: name, NetworkRef: networkingv1alpha1.NetworkPeeringReference{Namespace: namespace, Name: target}}
}

func waitPeerings(t *testing.T, namespace, name string, want ...string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := server.Client.NetworkingV1alpha1().Networks(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = n.Status.Peerings
		return slices.Equal(got, want), nil
	})
	if err != nil {
		t.Fatalf("network %s/%s: status.peerings %v, want %v", namespace, name, got, want)
	}
}

// A peering is in effect only when both networks name each other, also across namespaces;
// withdrawing one side ends it on both.
func TestPeeringNeedsBothSides(t *testing.T) {
	startController(t)
	ctx := t.Context()
	// The standalone server takes any namespace name.
	a := server.Client.NetworkingV1alpha1().Networks("peer-a")
	b := server.Client.NetworkingV1alpha1().Networks("peer-b")
	// front in peer-a asks for back in peer-b; nothing answers yet.
	if _, err := a.Create(ctx, network("front", peering("to-back", "peer-b", "back"), peering("to-nowhere", "", "nowhere")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, network("back"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	waitPeerings(t, "peer-a", "front")
	// back agrees: both sides are in effect.
	backNet, err := b.Get(ctx, "back", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	backNet.Spec.Peerings = []networkingv1alpha1.NetworkPeering{peering("to-front", "peer-a", "front")}
	if _, err := b.Update(ctx, backNet, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPeerings(t, "peer-a", "front", "to-back")
	waitPeerings(t, "peer-b", "back", "to-front")
	// back withdraws: the peering ends on both sides.
	if backNet, err = b.Get(ctx, "back", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	backNet.Spec.Peerings = nil
	if _, err := b.Update(ctx, backNet, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPeerings(t, "peer-a", "front")
	waitPeerings(t, "peer-b", "back")
}
