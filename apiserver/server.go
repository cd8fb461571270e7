package apiserver

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apiserver/listencode"
	"github.com/ferrite-dev/ferrite/apiserver/watchcache"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// Config is the complete configuration of a ferrite-apiserver.
type Config struct {
	// Generic is the generic apiserver configuration (serving, authn/z, storage, OpenAPI).
	Generic *genericapiserver.RecommendedConfig
	// Etcd is a client of the etcd the storage uses, for the VNI claims.
	Etcd *clientv3.Client
	// VNIClaimPrefix is the etcd key prefix of VNI claims.
	VNIClaimPrefix string
	// VNI configures the VNI allocator and its repair pass.
	VNI vni.Options
	// Poollet is how machines/console reaches machinepoollets.
	Poollet PoolletOptions
	// ListCache keeps the protobuf and JSON encodings of listed objects; nil for none.
	ListCache *listencode.Cache
}

// The bounds of the table of values shared among the objects of the watch caches: a few
// megabytes at most, far more than the distinct repeated values of a region.
const (
	watchCacheTableEntries = 1 << 16
	watchCacheTableBytes   = 16 << 20
)

// Server is a ferrite-apiserver ready to run.
type Server struct {
	// Generic is the underlying generic apiserver.
	Generic *genericapiserver.GenericAPIServer
}

// New builds the server and installs every Ferrite group.
func (c *Config) New() (*Server, error) {
	generic, err := c.Generic.Complete().New("ferrite-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	allocator := vni.NewAllocator(c.Etcd, c.VNIClaimPrefix, c.VNI)
	// The repair pass reclaims VNI claims whose network is gone; every apiserver runs it, and
	// their writes are compare-and-swap on the claim.
	generic.AddPostStartHookOrDie("ferrite-vni-repair", func(ctx genericapiserver.PostStartHookContext) error {
		go allocator.RunRepair(ctx)
		return nil
	})
	// The objects of every watch cache share their repeated values (labels, selectors,
	// resource lists, managed fields, strings); docs/performance.md, issue 15, has the figures.
	getter := watchcache.RESTOptionsGetter(c.Generic.RESTOptionsGetter, watchcache.NewTable(watchCacheTableEntries, watchCacheTableBytes))
	for _, group := range groupStorages {
		info := genericapiserver.NewDefaultAPIGroupInfo(group.name, Scheme, metav1.ParameterCodec, Codecs)
		// Protobuf and JSON LISTs reuse the encodings of objects listed before (docs/performance.md).
		info.NegotiatedSerializer = listencode.Wrap(info.NegotiatedSerializer, c.ListCache)
		resources, err := group.build(Scheme, getter, allocator)
		if err != nil {
			return nil, fmt.Errorf("building the storage of %s: %w", group.name, err)
		}
		if group.name == compute.GroupName {
			if err := c.addConsole(resources); err != nil {
				return nil, err
			}
		}
		info.VersionedResourcesStorageMap["v1alpha1"] = resources
		if err := generic.InstallAPIGroup(&info); err != nil {
			return nil, fmt.Errorf("installing %s: %w", group.name, err)
		}
	}
	return &Server{Generic: generic}, nil
}
