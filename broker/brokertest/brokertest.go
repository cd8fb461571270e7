// Package brokertest is what the brokers' integration tests share beyond poollettest: the lower
// cluster's scheduler, which places the lower objects a broker makes. Only tests import it.
package brokertest

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

// AddScheduler adds a scheduler to a controller manager: controllermanager.AddMachineScheduler
// or AddVolumeScheduler.
type AddScheduler func(context.Context, ctrl.Manager, events.EventRecorder, *controllermanager.Options) error

// StartScheduler runs the scheduler add of server, in a controller manager of its own, until the
// test ends (before the server stops, which otherwise waits a minute for the manager's
// watches). One test runs one scheduler per cluster.
func StartScheduler(t testing.TB, server *testserver.Server, add AddScheduler) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.RetryInterval, o.LedgerResync = time.Second, time.Second
	o.SeveralManagersInProcess = true
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := add(ctx, mgr, events.NewFakeRecorder(10000), o); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}
