package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// poolClient is what the generated Machine and Volume clients offer besides binding.
type poolClient[T runtime.Object, L runtime.Object] interface {
	typedClient[T, L]
	UpdateStatus(context.Context, T, metav1.UpdateOptions) (T, error)
}

// poolKind adapts one pool-bound kind to poolWatchCase.
type poolKind[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object] struct {
	// field is the indexed field selector label; pools are the two pools' names.
	field string
	pools [2]string
	// all watches every namespace (as a poollet does), ns works in the test's namespace.
	all, ns poolClient[T, L]
	newObj  func(name string) T
	bind    func(ctx context.Context, name, pool string) error
	pool    func(T) string
}

// poolWatchCase runs a poollet's view of two pools: watchers of pool a and of pool b across
// all namespaces, and a scheduler's watcher of unbound objects (field=) in the namespace. Each
// sees exactly the events of its own selection, in order: the bind arrives as ADDED (and leaves
// the unbound selection as DELETED), updates and a finalizer-held delete arrive, and nothing of
// the other pool. Every watcher's last expected event is caused after every operation on the
// other pool, so an event it should not have received would arrive before it and fail the test.
func poolWatchCase[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object](t *testing.T, k poolKind[T, L]) {
	t.Helper()
	ctx := testContext(t)
	watchPool := func(client poolClient[T, L], pool string) watch.Interface {
		t.Helper()
		w, err := client.Watch(ctx, metav1.ListOptions{FieldSelector: k.field + "=" + pool})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	poolA, poolB := k.pools[0], k.pools[1]
	wa, wb, wu := watchPool(k.all, poolA), watchPool(k.all, poolB), watchPool(k.ns, "")

	create := func(name string) {
		t.Helper()
		if _, err := k.ns.Create(ctx, k.newObj(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bind := func(name, pool string) {
		t.Helper()
		if err := k.bind(ctx, name, pool); err != nil {
			t.Fatal(err)
		}
	}
	label := func(name, value string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"step":%q}}}`, value)
		if _, err := k.ns.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The poollet's finalizer, through the status subresource as a poollet writes it.
	setFinalizers := func(name string, finalizers ...string) {
		t.Helper()
		obj, err := k.ns.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj.SetFinalizers(finalizers)
		if _, err := k.ns.UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) {
		t.Helper()
		if err := k.ns.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	create("a1")
	create("b1")
	bind("a1", poolA)
	bind("b1", poolB)
	label("a1", "1")
	label("b1", "1")
	setFinalizers("a1", "test.ferrite.dev/poollet")
	remove("a1") // held by the finalizer: MODIFIED with a deletion timestamp
	setFinalizers("a1")
	remove("b1")
	create("a2")
	create("b2")
	bind("a2", poolA)
	bind("b2", poolB)
	label("a2", "last") // after every operation on pool b
	label("b2", "last") // after every operation on pool a

	expectEvents(t, k.pool, wa, poolA,
		watch.Added, "a1", watch.Modified, "a1", watch.Modified, "a1", watch.Modified, "a1", watch.Deleted, "a1",
		watch.Added, "a2", watch.Modified, "a2")
	expectEvents(t, k.pool, wb, poolB,
		watch.Added, "b1", watch.Modified, "b1", watch.Deleted, "b1",
		watch.Added, "b2", watch.Modified, "b2")
	// Unbound objects: each leaves the selection when it is bound (the DELETED event carries
	// the object as it was last seen unbound).
	expectEvents(t, k.pool, wu, "",
		watch.Added, "a1", watch.Added, "b1", watch.Deleted, "a1", watch.Deleted, "b1",
		watch.Added, "a2", watch.Added, "b2", watch.Deleted, "a2", watch.Deleted, "b2")

	// A list with the field selector returns only the pool's objects, from the watch cache
	// (resourceVersion 0) and as a consistent read.
	for _, rv := range []string{"", "0"} {
		for pool, want := range map[string]string{poolA: "a2", poolB: "b2"} {
			list, err := k.all.List(ctx, metav1.ListOptions{FieldSelector: k.field + "=" + pool, ResourceVersion: rv})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			_ = meta.EachListItem(list, func(obj runtime.Object) error {
				names = append(names, obj.(metav1.Object).GetName())
				return nil
			})
			if len(names) != 1 || names[0] != want {
				t.Errorf("list %s=%s (resourceVersion %q): %v, want [%s]", k.field, pool, rv, names, want)
			}
		}
	}
}

// expectEvents reads the watcher's next events and checks them against pairs of event type
// and object name; every object must be in pool (the previous state for DELETED).
func expectEvents[T runtime.Object](t *testing.T, poolOf func(T) string, w watch.Interface, pool string, want ...any) {
	t.Helper()
	for i := 0; i < len(want); i += 2 {
		wantType, wantName := want[i].(watch.EventType), want[i+1].(string)
		select {
		case event, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("pool %q: watch closed while waiting for %s of %s", pool, wantType, wantName)
			}
			obj, isT := event.Object.(T)
			if !isT {
				t.Fatalf("pool %q: got %s of %T, want %s of %s", pool, event.Type, event.Object, wantType, wantName)
			}
			name := event.Object.(metav1.Object).GetName()
			if event.Type != wantType || name != wantName {
				t.Fatalf("pool %q, event %d: got %s of %s (pool %q), want %s of %s", pool, i/2+1, event.Type, name, poolOf(obj), wantType, wantName)
			}
			if got := poolOf(obj); got != pool {
				t.Fatalf("pool %q: %s of %s carries pool %q", pool, event.Type, name, got)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("pool %q: no %s of %s within 20s", pool, wantType, wantName)
		}
	}
}

// TestMachinePoolWatch is a machinepoollet's watch: spec.machinePoolRef.name=<pool>.
func TestMachinePoolWatch(t *testing.T) {
	ctx := testContext(t)
	pools := [2]string{"poolwatch-a", "poolwatch-b"}
	for _, pool := range pools {
		if _, err := server.Client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: objectMeta(pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	machines := server.Client.ComputeV1alpha1().Machines("poolwatch")
	poolWatchCase(t, poolKind[*computev1alpha1.Machine, *computev1alpha1.MachineList]{
		field: "spec.machinePoolRef.name",
		pools: pools,
		all:   server.Client.ComputeV1alpha1().Machines(metav1.NamespaceAll),
		ns:    machines,
		newObj: func(name string) *computev1alpha1.Machine {
			return &computev1alpha1.Machine{ObjectMeta: objectMeta(name), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")}}
		},
		bind: func(ctx context.Context, name, pool string) error {
			_, err := machines.Bind(ctx, name, binding(name, pool), metav1.CreateOptions{})
			return err
		},
		pool: func(m *computev1alpha1.Machine) string {
			if m.Spec.MachinePoolRef == nil {
				return ""
			}
			return m.Spec.MachinePoolRef.Name
		},
	})
}

// TestVolumePoolWatch is a volumepoollet's watch: spec.volumePoolRef.name=<pool>.
func TestVolumePoolWatch(t *testing.T) {
	ctx := testContext(t)
	pools := [2]string{"poolwatch-va", "poolwatch-vb"}
	for _, pool := range pools {
		if _, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: objectMeta(pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	volumes := server.Client.StorageV1alpha1().Volumes("poolwatch")
	poolWatchCase(t, poolKind[*storagev1alpha1.Volume, *storagev1alpha1.VolumeList]{
		field: "spec.volumePoolRef.name",
		pools: pools,
		all:   server.Client.StorageV1alpha1().Volumes(metav1.NamespaceAll),
		ns:    volumes,
		newObj: func(name string) *storagev1alpha1.Volume {
			return &storagev1alpha1.Volume{ObjectMeta: objectMeta(name), Spec: storagev1alpha1.VolumeSpec{
				VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}}
		},
		bind: func(ctx context.Context, name, pool string) error {
			_, err := volumes.Bind(ctx, name, &storagev1alpha1.VolumeBinding{ObjectMeta: objectMeta(name), Target: ref(pool)}, metav1.CreateOptions{})
			return err
		},
		pool: func(v *storagev1alpha1.Volume) string {
			if v.Spec.VolumePoolRef == nil {
				return ""
			}
			return v.Spec.VolumePoolRef.Name
		},
	})
}

// TestPoolListUsesTheIndex checks through the apiserver's metrics that a list selecting one
// pool is served from the watch cache's index of the pool reference and reads only that pool's
// objects: apiserver_storage_list_total and apiserver_storage_list_fetched_objects_total carry
// the index used ("f:<field>"). The watch side has no such metric (an indexed watcher differs
// only in which events the cacher offers it); the registry/kind tests check its configuration.
func TestPoolListUsesTheIndex(t *testing.T) {
	ctx := testContext(t)
	const ns = "poolindex"
	for _, pool := range []string{"poolindex-a", "poolindex-b"} {
		if _, err := server.Client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: objectMeta(pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: objectMeta(pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	// Two machines and a volume on pool a, three machines on pool b, one unbound machine.
	for i, pool := range []string{"poolindex-a", "poolindex-a", "poolindex-b", "poolindex-b", "poolindex-b", ""} {
		name := fmt.Sprintf("m%d", i)
		if _, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta(name), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if pool != "" {
			if _, err := machines.Bind(ctx, name, binding(name, pool), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"), Spec: storagev1alpha1.VolumeSpec{
		VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := volumes.Bind(ctx, "v", &storagev1alpha1.VolumeBinding{ObjectMeta: objectMeta("v"), Target: ref("poolindex-a")}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		group, resource, field string
		list                   func(metav1.ListOptions) (int, error)
	}{
		{"compute.ferrite.dev", "machines", "spec.machinePoolRef.name", func(o metav1.ListOptions) (int, error) {
			l, err := server.Client.ComputeV1alpha1().Machines(metav1.NamespaceAll).List(ctx, o)
			if err != nil {
				return 0, err
			}
			return len(l.Items), nil
		}},
		{"storage.ferrite.dev", "volumes", "spec.volumePoolRef.name", func(o metav1.ListOptions) (int, error) {
			l, err := server.Client.StorageV1alpha1().Volumes(metav1.NamespaceAll).List(ctx, o)
			if err != nil {
				return 0, err
			}
			return len(l.Items), nil
		}},
	} {
		labels := []string{`group="` + tt.group + `"`, `resource="` + tt.resource + `"`, `storage="watchcache"`, `index="f:` + tt.field + `"`}
		for _, rv := range []string{"", "0"} {
			lists, fetched := metric(ctx, t, "apiserver_storage_list_total", labels...), metric(ctx, t, "apiserver_storage_list_fetched_objects_total", labels...)
			n, err := tt.list(metav1.ListOptions{FieldSelector: tt.field + "=poolindex-a", ResourceVersion: rv})
			if err != nil {
				t.Fatal(err)
			}
			if tt.resource == "machines" && n != 2 || tt.resource == "volumes" && n != 1 {
				t.Errorf("%s on poolindex-a (resourceVersion %q): %d items", tt.resource, rv, n)
			}
			listsAfter, fetchedAfter := metric(ctx, t, "apiserver_storage_list_total", labels...), metric(ctx, t, "apiserver_storage_list_fetched_objects_total", labels...)
			if listsAfter-lists != 1 {
				t.Errorf("%s (resourceVersion %q): %v lists served from the index %s, want 1", tt.resource, rv, listsAfter-lists, tt.field)
			}
			// The index hands out only the pool's objects (every namespace's), not every object.
			if got := int(fetchedAfter - fetched); got != n {
				t.Errorf("%s (resourceVersion %q): %d objects read from the cache for %d returned, want only the pool's", tt.resource, rv, got, n)
			}
		}
	}
}

// metric returns the sum of the samples of a counter whose labels include all of labels.
func metric(ctx context.Context, t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	body, err := server.Client.ComputeV1alpha1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	scanner := bufio.NewScanner(bytes.NewReader(body))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		for _, label := range labels {
			if !strings.Contains(line[:end], label) {
				continue lines
			}
		}
		value, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += value
	}
	return sum
}
