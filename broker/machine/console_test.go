package machine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	broker "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// The console and its scrollback pass through the lower cluster's machines/console
// subresource: a lower apiserver that reaches its poollet's console endpoint, and a broker over
// it.
func TestConsole(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	lower := testserver.StartWith(t, func(o *apiserver.Options) {
		o.Poollet = apiserver.PoolletOptions{ClientCert: certs.ClientCert, ClientKey: certs.ClientKey, CA: certs.CA}
	})
	ctx := context.Background()
	if _, err := lower.Client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: consoletest.ClassName},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pool := consoletest.StartPool(t, lower.Config, "console-pool", certs)
	b, err := broker.New(broker.Options{Client: lower.Client, Config: lower.Config, Namespace: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	endpoint, _ := poollettest.ServeRuntime(t, "mbc", func(path string) (func(), error) { return b.Serve(bctx, path) })
	client := runtimev1alpha1.NewMachineRuntimeClient(poollettest.Dial(t, endpoint))

	id := string(uuid.NewUUID())
	s := spec()
	s.Class = consoletest.ClassName
	waitFor(t, "the broker's create", func() bool {
		_, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: s}})
		return err == nil
	})
	// No scheduler runs on this lower cluster: bind by hand.
	m, err := lower.Client.ComputeV1alpha1().Machines("tenant").Bind(ctx, broker.MachineName(id),
		&computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: pool.Name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the machine running", func() bool {
		list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
		return err == nil && len(list.GetMachines()) == 1 && list.GetMachines()[0].GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	})
	if err := pool.Runtime.WriteConsole(string(m.UID), []byte("hello from below\n")); err != nil {
		t.Fatal(err)
	}
	log, err := client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log.GetData(), []byte("hello from below")) || log.GetTotalBytes() != log.GetOffset()+uint64(len(log.GetData())) {
		t.Fatalf("console log: %q offset %d total %d", log.GetData(), log.GetOffset(), log.GetTotalBytes())
	}

	sessionCtx, end := context.WithTimeout(ctx, 20*time.Second)
	defer end()
	session, err := client.Console(sessionCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Open{Open: &runtimev1alpha1.ConsoleOpen{MachineId: id, ScrollbackBytes: 1024}}}); err != nil {
		t.Fatal(err)
	}
	if err := session.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Input{Input: []byte("typed-above")}}); err != nil {
		t.Fatal(err)
	}
	var seen []byte
	for !bytes.Contains(seen, []byte("hello from below")) || !bytes.Contains(seen, []byte("typed-above")) {
		out, err := session.Recv()
		if err != nil {
			t.Fatalf("console after %q: %v", seen, err)
		}
		seen = append(seen, out.GetOutput()...)
	}
}
