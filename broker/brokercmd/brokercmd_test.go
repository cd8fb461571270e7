package brokercmd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/broker/brokercmd"
)

var (
	machineRuntime = brokercmd.Runtime{Kind: "machine"}
	volumeRuntime  = brokercmd.Runtime{Kind: "volume", Namespace: "default"}
)

// broker records what the command made and served.
type broker struct {
	lower brokercmd.Lower
	// served receives the socket path; stopped closes when the command stops the broker.
	served, stopped chan string
}

func (b *broker) Serve(_ context.Context, path string) (func(), error) {
	b.served <- path
	return func() { close(b.stopped) }, nil
}

// command returns the command of rt with args, and a channel that receives the broker it makes.
func command(rt brokercmd.Runtime, args ...string) (*cobra.Command, chan *broker) {
	made := make(chan *broker, 1)
	cmd := brokercmd.Command("testbroker", "test", rt, func(lower brokercmd.Lower) (brokercmd.Broker, error) {
		b := &broker{lower: lower, served: make(chan string, 1), stopped: make(chan string)}
		made <- b
		return b, nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	return cmd, made
}

// The shared flags, their defaults (--kubeconfig from $KUBECONFIG, the socket and pool selector
// named after the runtime) and the required --namespace of a runtime without a default.
func TestFlagDefaults(t *testing.T) {
	t.Setenv("KUBECONFIG", "/etc/lower.kubeconfig")
	for _, tc := range []struct {
		rt       brokercmd.Runtime
		defaults map[string]string
	}{
		{machineRuntime, map[string]string{"kubeconfig": "/etc/lower.kubeconfig", "namespace": "", "socket": "/run/ferrite/machine-runtime.sock",
			"machine-pool-selector": "", "classes": "[]", "history-size": "1000"}},
		{volumeRuntime, map[string]string{"kubeconfig": "/etc/lower.kubeconfig", "namespace": "default", "socket": "/run/ferrite/volume-runtime.sock",
			"volume-pool-selector": "", "classes": "[]", "history-size": "1000"}},
	} {
		cmd, _ := command(tc.rt)
		for name, want := range tc.defaults {
			f := cmd.Flags().Lookup(name)
			if f == nil {
				t.Errorf("%s broker: no --%s", tc.rt.Kind, name)
				continue
			}
			if f.DefValue != want {
				t.Errorf("%s broker: --%s defaults to %q, want %q", tc.rt.Kind, name, f.DefValue, want)
			}
		}
	}

	cmd, made := command(machineRuntime, "--kubeconfig=/nonexistent")
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `"namespace" not set`) {
		t.Errorf("the machinebroker without --namespace: %v, want the flag required", err)
	}
	if len(made) > 0 {
		t.Error("a broker was made without --namespace")
	}
}

// A pool selector that is not k=v[,k=v...] of valid labels fails the command, naming the flag,
// before any broker is made.
func TestBadPoolSelector(t *testing.T) {
	for _, tc := range []struct {
		rt             brokercmd.Runtime
		selector, flag string
		detail         string
	}{
		{machineRuntime, "zone", "--machine-pool-selector", `"zone" is not key=value`},
		{volumeRuntime, "zone", "--volume-pool-selector", `"zone" is not key=value`},
		{volumeRuntime, "zone=a,=b", "--volume-pool-selector", `"=b" is not key=value`},
		{machineRuntime, "bad key=a", "--machine-pool-selector", "bad key"},
		{volumeRuntime, "zone=a b", "--volume-pool-selector", "a b"},
	} {
		cmd, made := command(tc.rt, "--namespace=ns", tc.flag+"="+tc.selector)
		err := cmd.ExecuteContext(context.Background())
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag+": ") || !strings.Contains(err.Error(), tc.detail) {
			t.Errorf("%s=%s: %v, want an error naming the flag and %s", tc.flag, tc.selector, err, tc.detail)
		}
		if len(made) > 0 {
			t.Errorf("%s=%s: a broker was made", tc.flag, tc.selector)
		}
	}
	if _, err := brokercmd.ParsePoolSelector(" zone=a , tier=fast,"); err != nil {
		t.Errorf("a selector with blanks and a trailing comma: %v", err)
	}
}

// Run over a lower apiserver: the broker gets the flags' values and the lower clients (no Events
// client: the standalone apiserver serves no events.k8s.io/v1), serves on --socket (its folder
// made), and is stopped when the context ends.
func TestRun(t *testing.T) {
	lower := testserver.Start(t)
	socket := filepath.Join(t.TempDir(), "run", "machine.sock")
	cmd, made := command(machineRuntime, "--kubeconfig="+filepath.Join(lower.DataDir, "kubeconfig"), "--namespace=brokers",
		"--socket="+socket, "--machine-pool-selector=zone=a,tier=fast", "--classes=small", "--classes=large", "--history-size=50")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var b *broker
	var path string
	select {
	case b = <-made:
		path = <-b.served
	case err := <-done:
		t.Fatalf("the command ended before it served: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not serve")
	}
	l := b.lower
	if l.Namespace != "brokers" || !reflect.DeepEqual(l.PoolSelector, map[string]string{"zone": "a", "tier": "fast"}) ||
		!reflect.DeepEqual(l.Classes, []string{"small", "large"}) || l.HistorySize != 50 {
		t.Errorf("the broker's Lower: namespace %q, pool selector %v, classes %v, history %d", l.Namespace, l.PoolSelector, l.Classes, l.HistorySize)
	}
	if l.Config == nil || l.Config.Host != lower.Config.Host || l.Client == nil || l.Kube == nil || l.Events != nil {
		t.Errorf("the broker's lower clients: config %v, client %v, kube %v, events %v", l.Config, l.Client, l.Kube, l.Events)
	}
	if _, err := l.Client.ComputeV1alpha1().MachineClasses().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the lower Ferrite client: %v", err)
	}
	if path != socket {
		t.Errorf("served on %q, want %q", path, socket)
	}
	if info, err := os.Stat(filepath.Dir(socket)); err != nil || !info.IsDir() {
		t.Errorf("the socket's folder: %v", err)
	}
	select {
	case <-b.stopped:
		t.Fatal("stopped while the context runs")
	default:
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the command ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end with its context")
	}
	select {
	case <-b.stopped:
	default:
		t.Fatal("the broker was not stopped")
	}
}

// A broker that cannot be made or served fails the command with its error.
func TestBrokerError(t *testing.T) {
	// A lower cluster that does not answer: the clients are made all the same.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: lower, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: broker, user: {token: x}}]
contexts: [{name: lower, context: {cluster: lower, user: broker}}]
current-context: lower
`), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	cmd := brokercmd.Command("testbroker", "test", volumeRuntime, func(brokercmd.Lower) (brokercmd.Broker, error) { return nil, boom })
	cmd.SetArgs([]string{"--kubeconfig=" + kubeconfig, "--socket=" + filepath.Join(t.TempDir(), "v.sock")})
	if err := cmd.ExecuteContext(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("the command: %v, want the broker's error", err)
	}
}
