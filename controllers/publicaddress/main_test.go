package publicaddress_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/ipam"
)

// quarantine is the manager's address quarantine: short, and long enough that a test sees
// the address held.
const quarantine = 5 * time.Second

// server runs for the whole package, with one manager running the IPAM and public address
// controllers and a public pool 203.0.113.0/24.
var (
	server *testserver.Server
	events = &recorder{}
)

// recorder keeps the events the manager records, as "namespace/name type reason: note".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...interface{}) {
	object, _ := apimeta.Accessor(regarding)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s/%s %s %s: %s", object.GetNamespace(), object.GetName(), eventtype, reason, fmt.Sprintf(note, args...)))
}

// find returns the first event starting with prefix.
func (r *recorder) find(prefix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			return e
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-publicaddress-test-")
	if err != nil {
		panic(err)
	}
	if server, err = testserver.StartInDir(dir); err != nil {
		panic(err)
	}
	cancel, done, err := startManager()
	if err != nil {
		panic(err)
	}
	code := m.Run()
	cancel()
	<-done
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startManager() (context.CancelFunc, chan struct{}, error) {
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	o.IPAMReleaseGrace = 3 * time.Second
	o.PublicAddressQuarantine = quarantine
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if err := controllermanager.AddIPAM(ctx, mgr, events, o); err != nil {
		cancel()
		return nil, nil, err
	}
	if err := controllermanager.AddPublicAddresses(ctx, mgr, events, o); err != nil {
		cancel()
		return nil, nil, err
	}
	pool := &ipamv1alpha1.Prefix{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: o.PublicPrefixNamespace, Labels: map[string]string{ipam.LabelVirtualIPs: "true"}},
		Spec:       ipamv1alpha1.PrefixSpec{Prefix: "203.0.113.0/24"},
	}
	if _, err := server.Client.IpamV1alpha1().Prefixes(pool.Namespace).Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		cancel()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			klog.Errorf("manager: %v", err)
		}
	}()
	return cancel, done, nil
}

// namespaces counts the namespaces made, so repeated runs (-count) on the one server do not
// collide.
var namespaces atomic.Int32

// namespace returns a fresh namespace name starting with prefix.
func namespace(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, namespaces.Add(1))
}

// waitFor polls condition until it holds, failing the test with what and the last state.
func waitFor(t *testing.T, what string, condition func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, state := condition(ctx)
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last seen: %s", what, err, last)
	}
}

// waitEvent waits for an event starting with prefix and returns it.
func waitEvent(t *testing.T, prefix string) string {
	t.Helper()
	waitFor(t, "event "+prefix, func(context.Context) (bool, string) { return events.find(prefix) != "", "" })
	return events.find(prefix)
}

func nic(name, network string, virtualIP string) *networkingv1alpha1.NetworkInterface {
	n := &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1Ref(network)}}
	if virtualIP != "" {
		ref := corev1Ref(virtualIP)
		n.Spec.VirtualIPRef = &ref
	}
	return n
}

func mustCreateNIC(t *testing.T, namespace string, n *networkingv1alpha1.NetworkInterface) *networkingv1alpha1.NetworkInterface {
	t.Helper()
	created, err := server.Client.NetworkingV1alpha1().NetworkInterfaces(namespace).Create(t.Context(), n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create NetworkInterface %s: %v", n.Name, err)
	}
	return created
}

func getNIC(ctx context.Context, namespace, name string) (*networkingv1alpha1.NetworkInterface, error) {
	return server.Client.NetworkingV1alpha1().NetworkInterfaces(namespace).Get(ctx, name, metav1.GetOptions{})
}

func corev1Ref(name string) corev1.LocalObjectReference {
	return corev1.LocalObjectReference{Name: name}
}

func getVIP(ctx context.Context, namespace, name string) (*networkingv1alpha1.VirtualIP, error) {
	return server.Client.NetworkingV1alpha1().VirtualIPs(namespace).Get(ctx, name, metav1.GetOptions{})
}
