package watchcache

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// fakeEtcd serves a list and a watch of given objects.
type fakeEtcd struct {
	storage.Interface
	items  []compute.Machine
	events []watch.Event
}

func (f *fakeEtcd) GetList(_ context.Context, _ string, _ storage.ListOptions, listObj runtime.Object) error {
	listObj.(*compute.MachineList).Items = f.items
	return nil
}

func (f *fakeEtcd) Watch(context.Context, string, storage.ListOptions) (watch.Interface, error) {
	w := watch.NewFakeWithChanSize(len(f.events), false)
	for _, e := range f.events {
		w.Action(e.Type, e.Object)
	}
	return w, nil
}

// received wraps an event's object as the etcd watch does (it adds when it was received).
type received struct{ runtime.Object }

func (r *received) Unwrap() runtime.Object { return r.Object }

// TestStorageInternsWhatTheCacheTakes lists and watches through interningStorage: list items
// and the objects of watch events, also inside the etcd watch's wrapper, come out interned.
func TestStorageInternsWhatTheCacheTakes(t *testing.T) {
	a, b, c := machine("name-a"), machine("name-b"), machine("name-c")
	s := &interningStorage{table: NewTable(1000, 1<<20), Interface: &fakeEtcd{
		items:  []compute.Machine{*a},
		events: []watch.Event{{Type: watch.Added, Object: &received{b}}, {Type: watch.Modified, Object: c}},
	}}
	list := &compute.MachineList{}
	if err := s.GetList(context.Background(), "/machines", storage.ListOptions{}, list); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(context.Background(), "/machines", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []*compute.Machine
	for range 2 {
		got = append(got, unwrap((<-w.ResultChan()).Object).(*compute.Machine))
	}
	listed := &list.Items[0]
	for _, m := range got {
		if !sameMap(listed.Labels, m.Labels) || !sameString(listed.Spec.Image, m.Spec.Image) {
			t.Errorf("%s not interned with the listed Machine", m.Name)
		}
	}
}
