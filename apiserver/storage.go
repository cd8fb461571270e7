package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/core"
	"github.com/ferrite-dev/ferrite/apis/ipam"
	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/registry/compute/machine"
	"github.com/ferrite-dev/ferrite/registry/compute/machineclass"
	"github.com/ferrite-dev/ferrite/registry/compute/machinepool"
	"github.com/ferrite-dev/ferrite/registry/core/resourcequota"
	"github.com/ferrite-dev/ferrite/registry/ipam/prefix"
	"github.com/ferrite-dev/ferrite/registry/kind"
	"github.com/ferrite-dev/ferrite/registry/networking/loadbalancer"
	"github.com/ferrite-dev/ferrite/registry/networking/natgateway"
	"github.com/ferrite-dev/ferrite/registry/networking/network"
	"github.com/ferrite-dev/ferrite/registry/networking/networkinterface"
	"github.com/ferrite-dev/ferrite/registry/networking/networkpolicy"
	"github.com/ferrite-dev/ferrite/registry/networking/virtualip"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
	"github.com/ferrite-dev/ferrite/registry/storage/volume"
	"github.com/ferrite-dev/ferrite/registry/storage/volumeclass"
	"github.com/ferrite-dev/ferrite/registry/storage/volumepool"
	"github.com/ferrite-dev/ferrite/registry/storage/volumesnapshot"
)

// builder returns a kind's storage entries ("machines", "machines/status").
type builder func(*runtime.Scheme, generic.RESTOptionsGetter) (*kind.Storage, error)

// groupStorage builds the storage of every resource of one group.
type groupStorage struct {
	name  string
	build func(*runtime.Scheme, generic.RESTOptionsGetter, *vni.Allocator) (map[string]rest.Storage, error)
}

// groupStorages lists every served group and resource.
var groupStorages = []groupStorage{
	{compute.GroupName, bound("machines", machine.NewStorage, "machinepools", machinepool.NewStorage, map[string]builder{
		"machineclasses": machineclass.NewStorage,
	})},
	{storage.GroupName, bound("volumes", volume.NewStorage, "volumepools", volumepool.NewStorage, map[string]builder{
		"volumeclasses":   volumeclass.NewStorage,
		"volumesnapshots": volumesnapshot.NewStorage,
	})},
	{networking.GroupName, func(scheme *runtime.Scheme, getter generic.RESTOptionsGetter, allocator *vni.Allocator) (map[string]rest.Storage, error) {
		resources, err := plain(map[string]builder{
			"networkinterfaces": networkinterface.NewStorage,
			"virtualips":        virtualip.NewStorage,
			"natgateways":       natgateway.NewStorage,
			"loadbalancers":     loadbalancer.NewStorage,
			"networkpolicies":   networkpolicy.NewStorage,
		})(scheme, getter, allocator)
		if err != nil {
			return nil, err
		}
		networks, err := network.NewStorage(scheme, getter, allocator)
		if err != nil {
			return nil, err
		}
		for path, storage := range networks {
			resources[path] = storage
		}
		return resources, nil
	}},
	{ipam.GroupName, plain(map[string]builder{"prefixes": prefix.NewStorage})},
	{core.GroupName, plain(map[string]builder{"resourcequotas": resourcequota.NewStorage})},
}

// plain builds the storage of kinds that need nothing but the generic registry.
func plain(builders map[string]builder) func(*runtime.Scheme, generic.RESTOptionsGetter, *vni.Allocator) (map[string]rest.Storage, error) {
	return func(scheme *runtime.Scheme, getter generic.RESTOptionsGetter, _ *vni.Allocator) (map[string]rest.Storage, error) {
		resources := map[string]rest.Storage{}
		for resource, build := range builders {
			storage, err := build(scheme, getter)
			if err != nil {
				return nil, err
			}
			for path, s := range storage.Resources(resource) {
				resources[path] = s
			}
		}
		return resources, nil
	}
}

// bound builds a group whose objects are bound to pools: the objects' binding subresource
// checks its targets against the pools' storage.
func bound(objects string, buildObjects builder, pools string, buildPools builder, others map[string]builder) func(*runtime.Scheme, generic.RESTOptionsGetter, *vni.Allocator) (map[string]rest.Storage, error) {
	return func(scheme *runtime.Scheme, getter generic.RESTOptionsGetter, allocator *vni.Allocator) (map[string]rest.Storage, error) {
		resources, err := plain(others)(scheme, getter, allocator)
		if err != nil {
			return nil, err
		}
		objectStorage, err := buildObjects(scheme, getter)
		if err != nil {
			return nil, err
		}
		poolStorage, err := buildPools(scheme, getter)
		if err != nil {
			return nil, err
		}
		objectStorage.SetPools(poolStorage.REST)
		for resource, s := range map[string]*kind.Storage{objects: objectStorage, pools: poolStorage} {
			for path, st := range s.Resources(resource) {
				resources[path] = st
			}
		}
		return resources, nil
	}
}
