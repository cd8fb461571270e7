package network_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/tools/cache"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/ferrite-dev/ferrite/apis/networking"
	networkinginstall "github.com/ferrite-dev/ferrite/apis/networking/install"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/registry/networking/network"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// lateWrites is etcd storage whose next create, once armed, fails at once as a lost connection
// would, while the write itself still reaches etcd afterwards: what a create whose etcd
// member died, or whose leader changed, after the proposal left the apiserver can do.
type lateWrites struct {
	storage.Interface
	mu      sync.Mutex
	armed   bool
	release chan struct{} // closed to let the held write go through
	written chan error    // the outcome of the held write
}

func (s *lateWrites) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) error {
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if !armed {
		return s.Interface.Create(ctx, key, obj, out, ttl)
	}
	held := obj.DeepCopyObject()
	go func() {
		<-s.release
		s.written <- s.Interface.Create(context.Background(), key, held, held.DeepCopyObject(), ttl)
	}()
	return errors.New("rpc error: code = Unavailable desc = error reading from server: EOF")
}

// server is one apiserver's network storage on a shared etcd: its own allocator, as each
// apiserver has.
type server struct {
	networks  rest.Creater
	allocator *vni.Allocator
}

// startEtcd runs an embedded etcd for the test and returns the storage configuration of its
// objects and a client.
func startEtcd(t *testing.T) (*storagebackend.Config, *clientv3.Client) {
	t.Helper()
	dir := t.TempDir()
	endpoint := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}
	}
	clientURL, peerURL := endpoint(), endpoint()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	<-etcd.Server.ReadyNotify()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL.String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	config := &storagebackend.Config{Type: storagebackend.StorageTypeETCD3, Prefix: "/registry",
		Transport: storagebackend.TransportConfig{ServerList: []string{clientURL.String()}}}
	return config, client
}

func newServer(t *testing.T, config *storagebackend.Config, etcd *clientv3.Client, late *lateWrites) server {
	t.Helper()
	scheme := runtime.NewScheme()
	networkinginstall.Install(scheme)
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)
	resource := networking.Resource("networks")
	backend := *config
	backend.Codec = codecs.LegacyCodec(v1alpha1.SchemeGroupVersion)
	options := generic.RESTOptions{
		StorageConfig:           backend.ForResource(resource),
		DeleteCollectionWorkers: 1,
		ResourcePrefix:          "networks",
		Decorator: func(config *storagebackend.ConfigForResource, prefix string, keyFunc func(runtime.Object) (string, error), newFunc, newListFunc func() runtime.Object, attrs storage.AttrFunc, trigger storage.IndexerFuncs, indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
			inner, destroy, err := generic.UndecoratedStorage(config, prefix, keyFunc, newFunc, newListFunc, attrs, trigger, indexers)
			if err != nil || late == nil {
				return inner, destroy, err
			}
			late.Interface = inner
			return late, destroy, nil
		},
	}
	allocator := vni.NewAllocator(etcd, "/vniclaims/", vni.NewOptions())
	storages, err := network.NewStorage(scheme, options, allocator)
	if err != nil {
		t.Fatal(err)
	}
	return server{networks: storages["networks"].(rest.Creater), allocator: allocator}
}

func (s server) create(t *testing.T, namespace string, n *networking.Network) (*networking.Network, error) {
	t.Helper()
	ctx := genericapirequest.WithNamespace(context.Background(), namespace)
	out, err := s.networks.Create(ctx, n, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return out.(*networking.Network), nil
}

func named(name string) *networking.Network {
	return &networking.Network{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// liveClaims returns the holder of every claim not in quarantine, by VNI.
func liveClaims(t *testing.T, allocator *vni.Allocator) map[int32]vni.Holder {
	t.Helper()
	claims, err := allocator.Claims(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]vni.Holder{}
	for _, c := range claims {
		if c.Released == nil {
			out[c.VNI] = c.Holder
		}
	}
	return out
}

// TestVNIKeptWhenCreateOutcomeUnknown: a create whose etcd write failed in a way that leaves
// its outcome open (the network may still be stored) keeps its VNI claim; freeing it would
// let a second apiserver on the same etcd give the VNI to another network once the first
// write lands. Creates that certainly stored nothing (refused by validation, name taken)
// free their claim at once.
func TestVNIKeptWhenCreateOutcomeUnknown(t *testing.T) {
	config, etcd := startEtcd(t)
	late := &lateWrites{release: make(chan struct{}), written: make(chan error, 1)}
	first := newServer(t, config, etcd, late)
	const ns = "late"

	late.mu.Lock()
	late.armed = true
	late.mu.Unlock()
	if _, err := first.create(t, ns, named("delayed")); err == nil {
		t.Fatal("the create whose write is held answered success")
	}
	// The write lands after the apiserver answered.
	close(late.release)
	if err := <-late.written; err != nil {
		t.Fatalf("the held write: %v", err)
	}
	stored, err := first.networks.(rest.Getter).Get(genericapirequest.WithNamespace(context.Background(), ns), "delayed", &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the network whose write landed late: %v", err)
	}
	delayed := stored.(*networking.Network)
	if claims := liveClaims(t, first.allocator); claims[delayed.Status.VNI].UID != delayed.UID {
		t.Fatalf("live claims %v: the late network's VNI %d is not claimed by it", claims, delayed.Status.VNI)
	}

	// A second apiserver starts on the same etcd; its allocator starts after the highest claim.
	second := newServer(t, config, etcd, nil)
	other, err := second.create(t, ns, named("other"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Status.VNI == delayed.Status.VNI {
		t.Fatalf("VNI %d given to both %s/delayed and %s/other", other.Status.VNI, ns, ns)
	}

	// Refused creates leave no claim behind.
	before := liveClaims(t, first.allocator)
	invalid := named("invalid")
	invalid.Spec.Peerings = []networking.NetworkPeering{{Name: "Not_A_Label", NetworkRef: networking.NetworkPeeringReference{Name: "x"}}}
	if _, err := first.create(t, ns, invalid); !apierrors.IsInvalid(err) {
		t.Fatalf("invalid network: %v, want Invalid", err)
	}
	if _, err := second.create(t, ns, named("other")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create of other: %v, want AlreadyExists", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := liveClaims(t, first.allocator)
		if len(after) == len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claims before the refused creates %v, after %v: the refused creates kept theirs", before, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
