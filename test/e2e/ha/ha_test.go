//go:build e2e

package ha

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/test/e2e/durable"
)

const (
	machineCount  = 10000 // Machines to create
	networkCount  = 300   // Networks created meanwhile, spread over the run
	workers       = 32    // concurrent Machine clients
	networkers    = 4     // concurrent Network clients
	namespace     = "ha"
	killEtcdAt    = 2000 // acknowledged Machine creates before the etcd leader is killed
	killServerAt  = 5000 // ... before ferrite-apiserver-1 is killed
	downFor       = 5 * time.Second
	killedReplica = 1
)

// TestCreatesSurviveEtcdAndAPIServerKills is the test of the package doc.
func TestCreatesSurviveEtcdAndAPIServerKills(t *testing.T) {
	s := startSystem(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	config := rest.CopyConfig(s.local.Config)
	config.QPS, config.Timeout = -1, 30*time.Second
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	client, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	// The APIServices are Available once the aggregator's own probe passed; its proxy and
	// endpoint resolver catch up a moment later. Start when the groups answer.
	if err := waitServing(ctx, client, 20); err != nil {
		t.Fatal(err)
	}

	machineSet := durable.NewSet(namespace, "machine", machineCount)
	networkSet := durable.NewSet(namespace, "network", networkCount)
	var errs durable.ErrorCounts
	tl := newTimeline()
	var acked atomic.Int64
	killerDone := make(chan error, 1)
	go func() { killerDone <- killAndRestart(ctx, t, s, tl, &acked) }()

	var failMu sync.Mutex
	var failures []error
	fail := func(err error) {
		failMu.Lock()
		failures = append(failures, err)
		failMu.Unlock()
	}
	machines := client.ComputeV1alpha1().Machines(namespace)
	networks := client.NetworkingV1alpha1().Networks(namespace)
	var wg sync.WaitGroup
	var nextMachine, nextNetwork atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(nextMachine.Add(1)) - 1; i < machineCount; i = int(nextMachine.Add(1)) - 1 {
				req := durable.Request{Name: machineSet.Name(i), Writer: machineSet.Writer(i), Retried: tl.error,
					Create: func(ctx context.Context) error {
						_, err := machines.Create(ctx, machineSet.Machine(i), metav1.CreateOptions{})
						return err
					},
					StoredWriter: func(ctx context.Context) (string, error) {
						m, err := machines.Get(ctx, machineSet.Name(i), metav1.GetOptions{})
						if err != nil {
							return "", err
						}
						return m.Annotations[durable.WriterKey], nil
					},
				}
				if err := durable.Create(ctx, req, &machineSet.Outcomes[i], &errs); err != nil {
					fail(err)
					continue
				}
				acked.Add(1)
				tl.ack()
			}
		}()
	}
	for range networkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(nextNetwork.Add(1)) - 1; i < networkCount; i = int(nextNetwork.Add(1)) - 1 {
				// Network i waits for its share of the Machines, so that the Networks are
				// created all along the run, through the kills.
				for acked.Load() < int64(i*machineCount/networkCount) && ctx.Err() == nil && nextMachine.Load() < machineCount {
					time.Sleep(10 * time.Millisecond)
				}
				req := durable.Request{Name: networkSet.Name(i), Writer: networkSet.Writer(i), Retried: tl.error,
					Create: func(ctx context.Context) error {
						n := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: networkSet.Name(i),
							Annotations: map[string]string{durable.WriterKey: networkSet.Writer(i)}}}
						_, err := networks.Create(ctx, n, metav1.CreateOptions{})
						return err
					},
					StoredWriter: func(ctx context.Context) (string, error) {
						n, err := networks.Get(ctx, networkSet.Name(i), metav1.GetOptions{})
						if err != nil {
							return "", err
						}
						return n.Annotations[durable.WriterKey], nil
					},
				}
				if err := durable.Create(ctx, req, &networkSet.Outcomes[i], &errs); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	end := tl.now()
	if err := <-killerDone; err != nil {
		t.Fatalf("killing and restarting: %v", err)
	}
	t.Logf("%d Machine and %d Network creates in %s; errors seen by clients (%d): %s", machineCount, networkCount, seconds(end), errs.Total(), errs.String())
	t.Logf("figures:\n%s", tl.report(end))
	t.Logf("the first error of each kind:\n%s", errs.Examples())
	for i, err := range failures {
		if i == 10 {
			t.Errorf("... %d failed creates in all", len(failures))
			break
		}
		t.Errorf("a create failed: %v", err)
	}
	if len(failures) > 0 {
		t.FailNow()
	}
	checkAfterRecovery(ctx, t, s, client, machineSet, networkSet)
}

// killAndRestart kills the etcd leader once killEtcdAt creates are acknowledged and
// ferrite-apiserver replica killedReplica once killServerAt are, and restarts each after
// downFor.
func killAndRestart(ctx context.Context, t *testing.T, s *system, tl *timeline, acked *atomic.Int64) error {
	wait := func(mark int64) error {
		for acked.Load() < mark {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for %d acknowledged creates: %w", mark, ctx.Err())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	if err := wait(killEtcdAt); err != nil {
		return err
	}
	leader, err := s.etcd.Leader(ctx)
	if err != nil {
		return err
	}
	k := tl.addKill(fmt.Sprintf("etcd member %s (the leader)", leader.Name))
	leader.Kill()
	t.Logf("SIGKILL etcd member %s, the leader, after %d acknowledged creates", leader.Name, acked.Load())
	time.Sleep(downFor)
	k.restarted = tl.now()
	if err := leader.Start(); err != nil {
		return err
	}
	if err := s.etcd.WaitMember(ctx, leader); err != nil {
		return err
	}
	k.ready = tl.now()
	t.Logf("etcd member %s back after %s", leader.Name, seconds(k.ready-k.killed))

	if err := wait(killServerAt); err != nil {
		return err
	}
	k = tl.addKill(fmt.Sprintf("ferrite-apiserver-%d", killedReplica))
	s.local.KillFerriteReplica(killedReplica)
	t.Logf("SIGKILL ferrite-apiserver-%d after %d acknowledged creates", killedReplica, acked.Load())
	time.Sleep(downFor)
	k.restarted = tl.now()
	if err := s.local.StartFerriteReplica(killedReplica); err != nil {
		return err
	}
	if err := s.local.WaitFerriteReplica(ctx, killedReplica, 2*time.Minute); err != nil {
		return err
	}
	k.ready = tl.now()
	t.Logf("ferrite-apiserver-%d back after %s", killedReplica, seconds(k.ready-k.killed))
	return nil
}

// waitServing waits until n LISTs of Machines and of Networks (two APIServices) in a row
// succeed through kube-apiserver, which sends each to a random ready ferrite-apiserver.
func waitServing(ctx context.Context, client versioned.Interface, n int) error {
	ok := 0
	var err error
	for ok < n {
		if ctx.Err() != nil {
			return fmt.Errorf("the Ferrite API did not answer %d LISTs in a row: %v", n, err)
		}
		if _, err = client.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
			_, err = client.NetworkingV1alpha1().Networks(namespace).List(ctx, metav1.ListOptions{Limit: 1})
		}
		if err != nil {
			ok = 0
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ok++
	}
	return nil
}
