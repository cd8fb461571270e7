package watchcache

import (
	"reflect"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// machine returns a Machine as decoded from etcd: every value its own allocation.
func machine(name string) *compute.Machine {
	clone := func(s string) string { return string(append([]byte(nil), s...)) }
	return &compute.Machine{
		ObjectMeta: metav1.ObjectMeta{
			Name: clone(name), Namespace: clone("ns"), UID: types.UID("uid-" + name),
			Labels: map[string]string{clone("app"): clone("web"), clone("tier"): clone("front")},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: clone("kubectl"), Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: clone("compute.ferrite.dev/v1alpha1"),
				FieldsType: clone("FieldsV1"), FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:image":{}}}`),
			}},
		},
		Spec: compute.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: clone("x3-small")},
			MachinePoolSelector: map[string]string{clone("zone"): clone("a")},
			Image:               clone("debian:12"),
			Volumes: []compute.MachineVolume{{Name: clone("root"), Ephemeral: &compute.EphemeralVolumeSource{
				Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			}}},
		},
	}
}

func sameString(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func sameMap(a, b any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }

func TestInternSharesRepeatedValues(t *testing.T) {
	table := NewTable(1000, 1<<20)
	a, b := machine("name-a"), machine("name-b")
	wantA, wantB := a.DeepCopy(), b.DeepCopy()
	table.Intern(a)
	table.Intern(b)
	if !reflect.DeepEqual(a, wantA) || !reflect.DeepEqual(b, wantB) {
		t.Fatalf("interning changed what the objects read as")
	}
	for what, same := range map[string]bool{
		"namespace":             sameString(a.Namespace, b.Namespace),
		"image":                 sameString(a.Spec.Image, b.Spec.Image),
		"class":                 sameString(a.Spec.MachineClassRef.Name, b.Spec.MachineClassRef.Name),
		"volume name":           sameString(a.Spec.Volumes[0].Name, b.Spec.Volumes[0].Name),
		"manager":               sameString(a.ManagedFields[0].Manager, b.ManagedFields[0].Manager),
		"labels":                sameMap(a.Labels, b.Labels),
		"pool selector":         sameMap(a.Spec.MachinePoolSelector, b.Spec.MachinePoolSelector),
		"resource list":         sameMap(a.Spec.Volumes[0].Ephemeral.Resources, b.Spec.Volumes[0].Ephemeral.Resources),
		"managed fields set":    &a.ManagedFields[0].FieldsV1.GetRawBytes()[0] == &b.ManagedFields[0].FieldsV1.GetRawBytes()[0],
		"label key across maps": sameString(firstKey(a.Labels), firstKey(b.Labels)),
	} {
		if !same {
			t.Errorf("%s not shared", what)
		}
	}
	// Different values stay different, and the values that identify an object stay its own.
	c := machine("c")
	c.Labels["tier"] = "back"
	table.Intern(c)
	if sameMap(a.Labels, c.Labels) || c.Labels["tier"] != "back" {
		t.Errorf("labels of another content shared: %v", c.Labels)
	}
	if _, ok := table.strs["name-a"]; ok {
		t.Errorf("a name went into the table")
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		if k == "app" {
			return k
		}
	}
	return ""
}

func TestInternQuantitiesByCanonicalForm(t *testing.T) {
	table := NewTable(1000, 1<<20)
	a, b, c := machine("a"), machine("b"), machine("c")
	b.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("10240Mi") // reads as 10Gi
	c.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("11Gi")
	for _, m := range []*compute.Machine{a, b, c} {
		table.Intern(m)
	}
	ra, rb, rc := a.Spec.Volumes[0].Ephemeral.Resources, b.Spec.Volumes[0].Ephemeral.Resources, c.Spec.Volumes[0].Ephemeral.Resources
	if !sameMap(ra, rb) {
		t.Errorf("10Gi and 10240Mi not shared")
	}
	if sameMap(ra, rc) || rc.Storage().String() != "11Gi" {
		t.Errorf("11Gi shared with 10Gi: %v", rc.Storage())
	}
}

func TestTableStartsAgainWhenFull(t *testing.T) {
	table := NewTable(5, 1<<20)
	for _, name := range []string{"a", "b", "c", "d"} {
		table.Intern(machine(name))
	}
	if table.entries > 5 {
		t.Errorf("table holds %d entries, bound 5", table.entries)
	}
	// Interning still works and never changes the values after a reset.
	m := machine("e")
	want := m.DeepCopy()
	table.Intern(m)
	if !reflect.DeepEqual(m, want) {
		t.Errorf("interning after a reset changed the object")
	}
}

// BenchmarkIntern is the CPU an object entering the watch cache pays.
func BenchmarkIntern(b *testing.B) {
	table := NewTable(1<<16, 16<<20)
	machines := make([]*compute.Machine, b.N)
	for i := range machines {
		machines[i] = machine("m")
	}
	b.ResetTimer()
	for i := range b.N {
		table.Intern(machines[i])
	}
}
