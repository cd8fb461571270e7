// Package consoletest runs, for tests, a real machinepoollet with its console endpoint on
// 127.0.0.1 over the fake machine runtime, against a ferrite-apiserver, with the certificates
// of both sides of the poollet connection.
package consoletest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/pki"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/poollet/console"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// ClientName is the common name of the apiserver's client certificate.
const ClientName = "ferrite-apiserver"

// PKI names the files of a poollet CA, a poollet serving certificate for 127.0.0.1 and the
// apiserver's client certificate, all issued by that CA.
type PKI struct {
	CA                      string
	ServingCert, ServingKey string
	ClientCert, ClientKey   string
}

// NewPKI issues the certificates in dir.
func NewPKI(t testing.TB, dir string) *PKI {
	t.Helper()
	ca, err := pki.EnsureCA(dir, "poollet-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Ensure("poollet-serving", pki.Spec{CommonName: "machinepoollet", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Ensure("apiserver-poollet-client", pki.Spec{CommonName: ClientName, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	return &PKI{CA: ca.CertFile, ServingCert: serving.CertFile, ServingKey: serving.KeyFile, ClientCert: client.CertFile, ClientKey: client.KeyFile}
}

// Pool is a running machinepoollet with its console endpoint.
type Pool struct {
	// Name is the MachinePool's name.
	Name string
	// Runtime is the fake machine runtime.
	Runtime *fake.Server
	// URL is the console endpoint's base URL, as published in status.runtimeEndpoint.
	URL string
}

// StartPool runs a fake runtime and a machinepoollet serving pool name with its console
// endpoint (certificates of certs, allowedNames as --console-allowed-names) until the test ends.
func StartPool(t testing.TB, config *rest.Config, name string, certs *PKI, allowedNames ...string) *Pool {
	t.Helper()
	ctrllog.SetLogger(klog.Background())
	dir, err := os.MkdirTemp("", "cons") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fakeRuntime := fake.New(fake.Options{})
	stopRuntime, err := fakeRuntime.Serve(filepath.Join(dir, "runtime.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopRuntime)
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "runtime.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := runtimev1alpha1.NewMachineRuntimeClient(conn)

	skipNameValidation := true // several managers in one process
	mgr, err := machine.NewManager(config, name, manager.Options{
		Logger:                 klog.Background(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		t.Fatal(err)
	}
	options := console.Options{BindAddress: "127.0.0.1:0", CertFile: certs.ServingCert, KeyFile: certs.ServingKey, ClientCAFile: certs.CA, AllowedNames: allowedNames}
	server := &console.Server{Options: options, Pool: name, Machines: mgr.GetClient(), Runtime: client}
	listener, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	url, err := options.URL(listener)
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(server); err != nil {
		t.Fatal(err)
	}
	poollet := &machine.Poollet{Runtime: client, Recorder: discard{}, Options: machine.Options{
		PoolName: name, RuntimeEndpoint: url, HeartbeatInterval: time.Second, RuntimeTimeout: 5 * time.Second}}
	if err := poollet.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("poollet %s: %v", name, err)
		}
	}()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { cancel(); <-done }) })
	return &Pool{Name: name, Runtime: fakeRuntime, URL: url}
}

// ClassName is the MachineClass RunMachine uses.
const ClassName = "console-test"

// RunMachine creates the Machine namespace/name, binds it to the pool and waits until the pool
// runs it.
func (p *Pool) RunMachine(t testing.TB, client versioned.Interface, namespace, name string) *computev1alpha1.Machine {
	t.Helper()
	ctx := context.Background()
	_, err := client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: ClassName},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := WaitFor(func() bool {
		pool, err := client.ComputeV1alpha1().MachinePools().Get(ctx, p.Name, metav1.GetOptions{})
		return err == nil && pool.Status.RuntimeEndpoint == p.URL
	}); err != nil {
		t.Fatalf("pool %s publishing its console endpoint: %v", p.Name, err)
	}
	machines := client.ComputeV1alpha1().Machines(namespace)
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: ClassName},
			Power: computev1alpha1.PowerOn, Image: "ghcr.io/ferrite-dev/os:1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := machines.Bind(ctx, name, &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: p.Name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var m *computev1alpha1.Machine
	if err := WaitFor(func() bool {
		m, err = machines.Get(ctx, name, metav1.GetOptions{})
		return err == nil && m.Status.State == computev1alpha1.MachineStateRunning
	}); err != nil {
		t.Fatalf("machine %s/%s running: %v", namespace, name, err)
	}
	return m
}

// WaitFor polls cond for up to 30 seconds.
func WaitFor(cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// discard drops the poollet's events.
type discard struct{}

func (discard) Eventf(_, _ runtime.Object, _, _, _, _ string, _ ...any) {}
