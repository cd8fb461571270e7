//go:build e2e

// Package console tests the web console end to end: `make run`'s control plane with its local
// pool (real QEMU guests), ferrite-console in front of its kube-apiserver, and Debian's
// Chromium driven headless through the DevTools protocol (chromedp). Every step saves a
// screenshot under _output/e2e-console. `make e2e-console` builds everything and runs it (root
// on Debian).
package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// Names shared by the tests.
const (
	namespace = "e2e-console"
	class     = "e2e-console"
	// network is made through the console's form; prefix gives its interfaces addresses.
	network = "e2e-net"
	// chromium is Debian's browser, installed by TestMain.
	chromium = "/usr/bin/chromium"
)

var (
	root    string
	env     *localtest.Env
	ferrite versioned.Interface
	kube    kubernetes.Interface
	suite   *localtest.Suite
	console *localcluster.Console
	// output holds the screenshots.
	output string
)

func TestMain(m *testing.M) {
	root, _ = filepath.Abs("../../..")
	output = filepath.Join(root, "_output", "e2e-console")
	if _, err := os.Stat(filepath.Join(root, "bin", "ferrite-console")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-console: skipped: bin/ferrite-console is not built (make console build)")
		os.Exit(0)
	}
	if out, err := exec.Command(filepath.Join(root, "hack", "install-packages.sh"), "chromium").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e-console: installing chromium: %v\n%s", err, out)
		os.Exit(1)
	}
	if _, err := os.Stat(chromium); err != nil {
		fmt.Fprintf(os.Stderr, "e2e-console: skipped: %s is missing (Debian's chromium; install it as root)\n", chromium)
		os.Exit(0)
	}
	var skip string
	var err error
	env, skip, err = localtest.Start("e2e-console", root, localcluster.PoolOptions{
		ShutdownTimeout: 10 * time.Second,
		NoVolumePool:    true,
		Network:         true,
	})
	if skip != "" {
		fmt.Fprintf(os.Stderr, "e2e-console: skipped: %s\n", skip)
		os.Exit(0)
	}
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-console: starting the control plane and the local pool: %v\n", err)
	} else if err = setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e-console: %v\n", err)
	} else {
		code = m.Run()
	}
	tearDown()
	env.Stop(code)
	os.Exit(code)
}

// setUp makes the clients, the namespace, a machine class, the prefix of the form's network,
// the viewer's binding, and starts the console.
func setUp() error {
	var err error
	if ferrite, err = versioned.NewForConfig(env.Cluster.Config); err != nil {
		return err
	}
	if kube, err = kubernetes.NewForConfig(env.Cluster.Config); err != nil {
		return err
	}
	suite = &localtest.Suite{Root: root, Kubeconfig: env.Cluster.Kubeconfig, Namespace: namespace, Kube: kube}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: class},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("192Mi")},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := ferrite.IpamV1alpha1().Prefixes(namespace).Create(ctx, &ipamv1alpha1.Prefix{
		ObjectMeta: metav1.ObjectMeta{Name: network + "-v4", Labels: map[string]string{"ipam.ferrite.dev/network": network}},
		Spec:       ipamv1alpha1.PrefixSpec{Prefix: "10.77.0.0/24"},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("the prefix of network %s: %w", network, err)
	}
	if err := env.Cluster.BindViewer(ctx, namespace); err != nil {
		return err
	}
	if console, err = env.Cluster.StartConsole(ctx, 0); err != nil {
		return err
	}
	if err := os.RemoveAll(output); err != nil {
		return err
	}
	return os.MkdirAll(output, 0o755)
}

// tearDown deletes the suite's machines (so their domains go) and stops the console.
func tearDown() {
	if ferrite != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, ns := range []string{namespace, scaleNamespace} {
			_ = ferrite.ComputeV1alpha1().Machines(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			list, err := ferrite.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{})
			if err == nil && len(list.Items) == 0 {
				break
			}
			time.Sleep(time.Second)
		}
	}
	if console != nil {
		console.Stop()
	}
}
