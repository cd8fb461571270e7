//go:build e2e

package aggregated

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// TestRestartOfFerrite kills ferrite-apiserver: kube-apiserver keeps serving, the APIServices
// turn unavailable, and once ferrite-apiserver is back everything stored is still there.
// Tests that run after it (Go runs them in file order) find ferrite-apiserver back and
// proxied; kube-controller-manager's garbage collector rediscovers the Ferrite groups within
// 30 seconds.
func TestRestartOfFerrite(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	createNamespace(t, kube, "restart")
	for _, name := range []string{"a", "b", "c"} {
		if _, err := ferrite.ComputeV1alpha1().Machines("restart").Create(ctx, machine(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cluster.KillFerrite()
	if err := cluster.WaitAPIServices(ctx, false, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "restart", metav1.GetOptions{}); err != nil {
		t.Fatalf("kube-apiserver must keep serving while ferrite-apiserver is down: %v", err)
	}
	if _, err := ferrite.ComputeV1alpha1().Machines("restart").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("listing machines succeeded while ferrite-apiserver was down")
	}
	if err := cluster.StartFerrite(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitAPIServices(ctx, true, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Available is the aggregator's verdict from its own probe; its proxy may still answer
	// 503 for a moment.
	var list *computev1alpha1.MachineList
	err := eventually(ctx, time.Minute, func(ctx context.Context) (err error) {
		list, err = ferrite.ComputeV1alpha1().Machines("restart").List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("after restart: %v, %v, want 3 machines", err, list)
	}
}
