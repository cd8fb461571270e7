//go:build e2e

package aggregated

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func clients(t *testing.T, config *rest.Config) (kubernetes.Interface, versioned.Interface) {
	t.Helper()
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	ferrite, err := versioned.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return kube, ferrite
}

func createNamespace(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	_, err := kube.CoreV1().Namespaces().Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func machine(name string) *computev1alpha1.Machine {
	return &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}}}
}

func TestDiscoveryListsEveryGroup(t *testing.T) {
	kube, _ := clients(t, cluster.Config)
	groups, err := kube.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, group := range groups.Groups {
		served[group.Name] = true
	}
	for _, group := range localcluster.Groups {
		if !served[group] {
			t.Errorf("discovery through kube-apiserver lacks %s", group)
		}
	}
	resources, err := kube.Discovery().ServerResourcesForGroupVersion("compute.ferrite.dev/v1alpha1")
	if err != nil || len(resources.APIResources) < 3 {
		t.Fatalf("compute resources: %v %v", err, resources)
	}
}

func TestCRUDAndWatchThroughTheAggregator(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	createNamespace(t, kube, "crud")
	machines := ferrite.ComputeV1alpha1().Machines("crud")
	watcher, err := machines.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()
	if _, err := machines.Create(ctx, machine("m"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, watcher, watch.Added)
	// The controller manager may have written the machine meanwhile: update the latest.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := machines.Get(ctx, "m", metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Spec.Image = "debian-13"
		_, err = machines.Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, watcher, watch.Modified)
	list, err := machines.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Spec.Image != "debian-13" {
		t.Fatalf("list: %v %v", err, list)
	}
	if err := machines.Delete(ctx, "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, watcher, watch.Deleted)
}

// expect waits for the next event of eventType. MODIFIED events before it are skipped: the
// controller managers write the machine's status (scheduling conditions) and metadata while the
// test runs.
func expect(t *testing.T, watcher watch.Interface, eventType watch.EventType) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case event := <-watcher.ResultChan():
			if event.Type == eventType {
				return
			}
			if event.Type != watch.Modified {
				t.Fatalf("watch: %s, want %s", event.Type, eventType)
			}
		case <-timeout:
			t.Fatalf("watch: no %s event", eventType)
		}
	}
}

func tokenConfig(user string) *rest.Config {
	config := rest.AnonymousClientConfig(cluster.Config)
	config.BearerToken = cluster.Tokens[user]
	return config
}

func TestRBAC(t *testing.T) {
	ctx := testContext(t)
	kube, admin := clients(t, cluster.Config)
	createNamespace(t, kube, "team-a")
	if _, err := admin.ComputeV1alpha1().Machines("team-a").Create(ctx, machine("existing"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := kube.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ferrite-viewer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: localcluster.ViewerUser}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, viewer := clients(t, tokenConfig(localcluster.ViewerUser))
	// RBAC bindings take effect through the authorizer cache; give it a moment.
	var list *computev1alpha1.MachineList
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err = viewer.ComputeV1alpha1().Machines("team-a").List(ctx, metav1.ListOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("viewer list: %v %v", err, list)
	}
	if _, err := viewer.ComputeV1alpha1().Machines("team-a").Create(ctx, machine("denied"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("viewer create: %v, want 403", err)
	}
	_, nobody := clients(t, tokenConfig(localcluster.NobodyUser))
	if _, err := nobody.ComputeV1alpha1().Machines("team-a").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user list: %v, want 403", err)
	}
	if _, err := nobody.ComputeV1alpha1().Machines("team-a").Create(ctx, machine("denied"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user create: %v, want 403", err)
	}
}

// TestDirectRequestsNeedCredentials calls ferrite-apiserver itself, bypassing kube-apiserver:
// without a client certificate of the front proxy, identity headers count for nothing.
func TestDirectRequestsNeedCredentials(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}, Timeout: 10 * time.Second}
	request, _ := http.NewRequest(http.MethodGet, cluster.FerriteURL+"/apis/compute.ferrite.dev/v1alpha1/machines", nil)
	request.Header.Set("X-Remote-User", "kubernetes-admin")
	request.Header.Set("X-Remote-Group", "system:masters")
	response, err := client.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusUnauthorized {
		t.Fatalf("direct request with forged headers: %d, want 401", response.StatusCode)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	_, err := ferrite.ComputeV1alpha1().Machines("does-not-exist").Create(ctx, machine("m"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("create in a missing namespace: %v, want refused", err)
	}
	// A Machine with a finalizer of ours holds the namespace in Terminating while the test
	// creates in it; once released, the namespace controller finishes the deletion.
	createNamespace(t, kube, "leaving")
	held := machine("held")
	held.Finalizers = []string{"e2e.ferrite.dev/hold"}
	if _, err := ferrite.ComputeV1alpha1().Machines("leaving").Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().Namespaces().Delete(ctx, "leaving", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = ferrite.ComputeV1alpha1().Machines("leaving").Create(ctx, machine("m"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "terminat") {
		t.Fatalf("create in a terminating namespace: %v, want 403 because it is terminating", err)
	}
	// The namespace controller deletes the held Machine (it waits for the finalizer) ...
	err = eventually(ctx, time.Minute, func(ctx context.Context) error {
		current, err := ferrite.ComputeV1alpha1().Machines("leaving").Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if current.DeletionTimestamp == nil {
			return fmt.Errorf("machine held not deleted yet")
		}
		current.Finalizers = nil
		_, err = ferrite.ComputeV1alpha1().Machines("leaving").Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("releasing the held machine: %v", err)
	}
	// ... and finalizes the namespace once it is released.
	err = eventually(ctx, time.Minute, func(ctx context.Context) error {
		if _, err := kube.CoreV1().Namespaces().Get(ctx, "leaving", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace leaving still there: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIgnitionSecretIsResolved(t *testing.T) {
	ctx := testContext(t)
	kube, ferrite := clients(t, cluster.Config)
	createNamespace(t, kube, "ignition")
	if _, err := kube.CoreV1().Secrets("ignition").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "user-data"},
		Data: map[string][]byte{"ignition.json": []byte(`{"ignition":{"version":"3.4.0"}}`)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	machines := ferrite.ComputeV1alpha1().Machines("ignition")
	good := machine("good")
	good.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: "user-data"}
	if _, err := machines.Create(ctx, good, metav1.CreateOptions{}); err != nil {
		t.Fatalf("machine with a resolvable ignition secret: %v", err)
	}
	badKey := machine("bad-key")
	badKey.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: "user-data", Key: "cloud-config"}
	_, err := machines.Create(ctx, badKey, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.ignitionRef.key") {
		t.Fatalf("machine with a missing key: %v, want 422 naming spec.ignitionRef.key", err)
	}
	later := machine("later")
	later.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: "created-later"}
	if _, err := machines.Create(ctx, later, metav1.CreateOptions{}); err != nil {
		t.Fatalf("machine whose secret comes later must be admitted (with a warning): %v", err)
	}
}
