//go:build e2e

package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// scaleNamespace holds the thousand machines of TestThousandMachines.
const scaleNamespace = "e2e-console-scale"

// scaleMachines is how many machines the live list shows.
const scaleMachines = 1000

// TestThousandMachines measures what a user waits for: the first paint of the login page, and
// the time from opening the machine list to a live list of 1,000 machines; then a machine made
// afterwards must show up through the watch. The machines match no pool, so none boots.
func TestThousandMachines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	createMachines(ctx, t, 0, scaleMachines)
	t.Logf("created %d machines in %v", scaleMachines, time.Since(start).Round(time.Millisecond))

	b := newBrowser(t)
	b.open("/", "login-kubeconfig")
	firstPaint := evaluate[float64](b, `(() => { const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : -1; })()`)
	b.loginKubeconfig(env.Cluster.Kubeconfig)

	opened := time.Now()
	b.open("/machines?namespace="+scaleNamespace, "list-machines")
	rows := 0
	for rows < scaleMachines {
		rows = evaluate[int](b, `document.querySelectorAll('[data-testid="list-machines"] [data-testid^="row-"]').length`)
		if time.Since(opened) > 2*time.Minute {
			b.screenshot("failed-thousand-machines")
			t.Fatalf("the list shows %d of %d machines after 2 minutes", rows, scaleMachines)
		}
		if rows < scaleMachines {
			time.Sleep(20 * time.Millisecond)
		}
	}
	listed := time.Since(opened)
	type appMetrics struct {
		FirstListRenderedMs float64 `json:"firstListRenderedMs"`
	}
	metrics := evaluate[appMetrics](b, `window.__ferriteMetrics || {}`)
	b.screenshot("thousand-machines")

	// Live: one more machine appears without a reload.
	added := time.Now()
	createMachines(ctx, t, scaleMachines, 1)
	b.waitText(fmt.Sprintf("row-scale-%04d", scaleMachines), "scale-", 30*time.Second)
	live := time.Since(added)

	transferred := evaluate[float64](b, `performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
  .filter(e => !e.name.includes('/k8s/') && !e.name.includes('/auth/')).reduce((sum, e) => sum + (e.encodedBodySize || 0), 0)`)
	figures := fmt.Sprintf("first contentful paint of the login page: %.0f ms\n"+
		"opening the list to %d rows shown: %v (the app's own first render of the list: %.0f ms after navigation)\n"+
		"a machine made afterwards shown after: %v\n"+
		"app bytes transferred (page, scripts, styles): %.0f\n",
		firstPaint, scaleMachines, listed.Round(time.Millisecond), metrics.FirstListRenderedMs, live.Round(time.Millisecond), transferred)
	t.Log("\n" + figures)
	if err := os.WriteFile(filepath.Join(output, "figures.txt"), []byte(figures), 0o644); err != nil {
		t.Error(err)
	}
}

// createMachines makes machines scale-<from>...scale-<from+count-1> that no pool takes.
func createMachines(ctx context.Context, t *testing.T, from, count int) {
	t.Helper()
	config := rest.CopyConfig(env.Cluster.Config)
	config.QPS, config.Burst = 500, 1000
	client, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, count)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := client.ComputeV1alpha1().Machines(scaleNamespace).Create(ctx, &computev1alpha1.Machine{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%04d", i)},
					Spec: computev1alpha1.MachineSpec{
						MachineClassRef:     corev1.LocalObjectReference{Name: class},
						MachinePoolSelector: map[string]string{"e2e-console": "nowhere"},
						Image:               env.Pool.GuestImage,
					},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := from; i < from+count; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
