//go:build e2e

package crash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
)

const (
	total     = 10000 // Machines to create
	workers   = 32    // concurrent clients
	namespace = "crash"
	// writerKey is the annotation that tells which create request wrote an object.
	writerKey = "test.ferrite.dev/writer"
)

// killAt are the numbers of acknowledged creates after which the apiserver is killed.
var killAt = []int64{3000, 6500}

// outcome is what the client learnt about one Machine.
type outcome struct {
	attempts int
	// acknowledged: a create answered 201. confirmed: a retried create answered AlreadyExists
	// and a GET showed this client's object.
	acknowledged, confirmed bool
}

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

	run := fmt.Sprint(time.Now().UnixNano())
	outcomes := make([]outcome, total)
	var acked, retries atomic.Int64
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
				if err := create(ctx, client, i, writer(run, i), &outcomes[i], &retries); err != nil {
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
	t.Logf("%d creates in %s; %d retried requests", total, time.Since(start).Round(time.Millisecond), retries.Load())
	if len(failures) > 0 {
		t.Fatalf("%d creates failed, first: %s", len(failures), failures[0])
	}
	checkStored(t, etcd, run, outcomes)
}

// writer is the annotation value of Machine i of this run.
func writer(run string, i int) string { return fmt.Sprintf("%s/%d", run, i) }

// machine is Machine i as the client sends it.
func machine(i int, writerID string) *computev1alpha1.Machine {
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name(i), Annotations: map[string]string{writerKey: writerID}},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "x3-small"},
			Power:           computev1alpha1.PowerOn,
			Image:           "ghcr.io/ferrite-dev/images/debian:12",
		},
	}
}

func name(i int) string { return fmt.Sprintf("machine-%05d", i) }

// create sends Machine i until the server gives a definite answer. Connection errors and
// answers that say "try again" are retried with the same name; AlreadyExists after a retry
// must show this client's own object, which an earlier attempt wrote.
func create(ctx context.Context, client versioned.Interface, i int, writerID string, out *outcome, retries *atomic.Int64) error {
	machines := client.ComputeV1alpha1().Machines(namespace)
	for ctx.Err() == nil {
		out.attempts++
		if out.attempts > 1 {
			retries.Add(1)
		}
		_, err := machines.Create(ctx, machine(i, writerID), metav1.CreateOptions{})
		switch {
		case err == nil:
			out.acknowledged = true
			return nil
		case apierrors.IsAlreadyExists(err):
			if out.attempts == 1 {
				return fmt.Errorf("%s: AlreadyExists on the first attempt: %v", name(i), err)
			}
			stored, err := getRetrying(ctx, client, name(i))
			if err != nil {
				return err
			}
			if got := stored.Annotations[writerKey]; got != writerID {
				return fmt.Errorf("%s: AlreadyExists, but the stored object was written by %q, not %q", name(i), got, writerID)
			}
			out.confirmed = true
			return nil
		case retryable(err):
			time.Sleep(50 * time.Millisecond)
		default:
			return fmt.Errorf("%s: attempt %d: %v", name(i), out.attempts, err)
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %v", name(i), out.attempts, ctx.Err())
}

func getRetrying(ctx context.Context, client versioned.Interface, machineName string) (*computev1alpha1.Machine, error) {
	for ctx.Err() == nil {
		m, err := client.ComputeV1alpha1().Machines(namespace).Get(ctx, machineName, metav1.GetOptions{})
		if err == nil || !retryable(err) {
			return m, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, ctx.Err()
}

// retryable tells errors that leave the outcome of a request open: no answer at all (the
// connection broke or was refused) or an answer that asks to come back later.
func retryable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}
