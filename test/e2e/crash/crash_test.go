//go:build e2e

package crash

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/test/e2e/durable"
)

const (
	total     = 10000 // Machines to create
	workers   = 32    // concurrent clients
	namespace = "crash"
)

// killAt are the numbers of acknowledged creates after which the apiserver is killed.
var killAt = []int64{3000, 6500}

func TestCreatesSurviveAPIServerKills(t *testing.T) {
	apiserverBin, etcdBin := os.Getenv("FERRITE_APISERVER"), os.Getenv("FERRITE_ETCD")
	if apiserverBin == "" || etcdBin == "" {
		t.Skip("FERRITE_APISERVER and FERRITE_ETCD must name the binaries; run `make e2e-crash`")
	}
	dir := t.TempDir()
	etcd, err := cluster.StartEtcd(etcdBin, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Stop()
	server, err := cluster.NewAPIServer(apiserverBin, dir+"/apiserver", etcd.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(server.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := server.Start(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	config, err := server.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	config.Timeout = 30 * time.Second
	client, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	set := durable.NewSet(namespace, "machine", total)
	var errs durable.ErrorCounts
	var acked atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The killer waits for the acknowledged count to pass each mark, then kills and restarts.
	killerDone := make(chan error, 1)
	go func() {
		for _, mark := range killAt {
			for acked.Load() < mark {
				if ctx.Err() != nil {
					killerDone <- ctx.Err()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			server.Kill()
			t.Logf("SIGKILL after %d acknowledged creates", acked.Load())
			start := time.Now()
			if err := server.Start(2 * time.Minute); err != nil {
				killerDone <- err
				return
			}
			t.Logf("apiserver back after %s", time.Since(start).Round(time.Millisecond))
		}
		killerDone <- nil
	}()

	start := time.Now()
	machines := client.ComputeV1alpha1().Machines(namespace)
	var next atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				req := durable.Request{
					Name: set.Name(i), Writer: set.Writer(i),
					Create: func(ctx context.Context) error {
						_, err := machines.Create(ctx, set.Machine(i), metav1.CreateOptions{})
						return err
					},
					StoredWriter: func(ctx context.Context) (string, error) {
						m, err := machines.Get(ctx, set.Name(i), metav1.GetOptions{})
						if err != nil {
							return "", err
						}
						return m.Annotations[durable.WriterKey], nil
					},
				}
				if err := durable.Create(ctx, req, &set.Outcomes[i], &errs); err != nil {
					failMu.Lock()
					failures = append(failures, err.Error())
					failMu.Unlock()
					continue
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := <-killerDone; err != nil {
		t.Fatalf("killing and restarting the apiserver: %v", err)
	}
	t.Logf("%d creates in %s; errors seen by clients: %s", total, time.Since(start).Round(time.Millisecond), errs.String())
	if len(failures) > 0 {
		t.Fatalf("%d creates failed, first: %s", len(failures), failures[0])
	}
	summary := durable.CheckMachinesInEtcd(t, etcd.Client, set)
	t.Logf("etcd: %s", summary)
	if summary.Retried == 0 {
		t.Errorf("no create was retried: the kills did not hit requests in flight")
	}
}
