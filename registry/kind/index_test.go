package kind_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/tools/cache"

	"github.com/ferrite-dev/ferrite/apis/compute"
	storageapi "github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/registry/compute/machine"
	"github.com/ferrite-dev/ferrite/registry/kind"
	"github.com/ferrite-dev/ferrite/registry/storage/volume"
)

// captured is what the generic registry handed to the storage decorator, which builds the
// watch cache from it.
type captured struct {
	triggers storage.IndexerFuncs
	indexers *cache.Indexers
}

func optionsCapturing(c *captured) generic.RESTOptions {
	return generic.RESTOptions{
		StorageConfig:  &storagebackend.ConfigForResource{},
		ResourcePrefix: "/test",
		Decorator: func(_ *storagebackend.ConfigForResource, _ string, _ func(runtime.Object) (string, error),
			_ func() runtime.Object, _ func() runtime.Object, _ storage.AttrFunc,
			triggers storage.IndexerFuncs, indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
			c.triggers, c.indexers = triggers, indexers
			return nil, func() {}, nil
		},
	}
}

// TestIndexedFieldReachesTheWatchCache checks that Machines and Volumes hand the watch cache a
// trigger function and a list index on their pool reference, that both read the value the
// field selector matches, and that a selector requiring an exact pool asks for the index.
func TestIndexedFieldReachesTheWatchCache(t *testing.T) {
	boundMachine := &compute.Machine{Spec: compute.MachineSpec{MachinePoolRef: &compute.MachinePoolReference{Name: "pool-a"}}}
	boundVolume := &storageapi.Volume{Spec: storageapi.VolumeSpec{VolumePoolRef: &storageapi.VolumePoolReference{Name: "pool-a"}}}
	tests := []struct {
		name           string
		build          func(generic.RESTOptionsGetter) (*kind.Storage, error)
		path           string
		unbound, bound runtime.Object
	}{
		{"machines", func(o generic.RESTOptionsGetter) (*kind.Storage, error) {
			return kind.NewStorage(runtime.NewScheme(), o, machine.Kind)
		}, "spec.machinePoolRef.name", &compute.Machine{}, boundMachine},
		{"volumes", func(o generic.RESTOptionsGetter) (*kind.Storage, error) {
			return kind.NewStorage(runtime.NewScheme(), o, volume.Kind)
		}, "spec.volumePoolRef.name", &storageapi.Volume{}, boundVolume},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c captured
			s, err := tt.build(optionsCapturing(&c))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.triggers) != 1 || c.triggers[tt.path] == nil {
				t.Fatalf("trigger functions %v, want one for %s", c.triggers, tt.path)
			}
			if c.indexers == nil || len(*c.indexers) != 1 || (*c.indexers)[storage.FieldIndex(tt.path)] == nil {
				t.Fatalf("indexers %v, want one named %s", c.indexers, storage.FieldIndex(tt.path))
			}
			pred := s.REST.PredicateFunc(labels.Everything(), fields.OneTermEqualSelector(tt.path, "pool-a"))
			for _, obj := range []runtime.Object{tt.unbound, tt.bound} {
				_, set, err := pred.GetAttrs(obj)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.triggers[tt.path](obj); got != set[tt.path] {
					t.Errorf("trigger value %q, selectable field %q", got, set[tt.path])
				}
				got, err := (*c.indexers)[storage.FieldIndex(tt.path)](obj)
				if err != nil || !reflect.DeepEqual(got, []string{set[tt.path]}) {
					t.Errorf("index values %v (%v), want [%q]", got, err, set[tt.path])
				}
			}
			want := []storage.MatchValue{{IndexName: storage.FieldIndex(tt.path), Value: "pool-a"}}
			if got := pred.MatcherIndex(context.Background()); !reflect.DeepEqual(got, want) {
				t.Errorf("MatcherIndex %v, want %v", got, want)
			}
			// Only an exact value uses the index.
			notEqual := s.REST.PredicateFunc(labels.Everything(), fields.OneTermNotEqualSelector(tt.path, "pool-a"))
			if got := notEqual.MatcherIndex(context.Background()); len(got) != 0 {
				t.Errorf("MatcherIndex of != %v, want none", got)
			}
		})
	}
}

// TestKindsWithoutIndexedField checks that other kinds configure no index.
func TestKindsWithoutIndexedField(t *testing.T) {
	k := *machine.Kind
	k.IndexedField = nil
	var c captured
	s, err := kind.NewStorage(runtime.NewScheme(), optionsCapturing(&c), &k)
	if err != nil {
		t.Fatal(err)
	}
	if c.triggers != nil || c.indexers != nil {
		t.Errorf("trigger functions %v, indexers %v, want none", c.triggers, c.indexers)
	}
	if got := s.REST.PredicateFunc(labels.Everything(), fields.Everything()).IndexFields; len(got) != 0 {
		t.Errorf("IndexFields %v, want none", got)
	}
}

// TestIndexedFieldMustBeSelectable checks that a misconfigured index is refused when the
// storage is built, not discovered as watchers that miss events.
func TestIndexedFieldMustBeSelectable(t *testing.T) {
	pool := func(m *compute.Machine) string { return "" }
	for _, tt := range []struct {
		field *kind.IndexedField[*compute.Machine]
		want  string
	}{
		{&kind.IndexedField[*compute.Machine]{Path: "spec.image", Value: pool}, "not a selectable field"},
		{&kind.IndexedField[*compute.Machine]{Path: "metadata.name", Value: pool}, "outside metadata"},
		{&kind.IndexedField[*compute.Machine]{Path: "spec.machinePoolRef.name"}, "value function"},
		{&kind.IndexedField[*compute.Machine]{Path: "spec.machinePoolRef.name", Value: func(*compute.Machine) string { return "x" }}, "reads \"x\""},
	} {
		k := *machine.Kind
		k.IndexedField = tt.field
		var c captured
		_, err := kind.NewStorage(runtime.NewScheme(), optionsCapturing(&c), &k)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.field.Path, err, tt.want)
		}
	}
}
