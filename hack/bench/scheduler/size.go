package main

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/scheme"
)

// poolSize is the size of a pool object.
type poolSize struct {
	name string
	// protobuf is the object marshalled with the protobuf codec, as the apiserver stores it;
	// etcd is the value of the same resourceVersion read back from etcd (0 when it could not be
	// read); json is the object in JSON.
	protobuf, etcd, json int
	reservations         int
}

// largestPool returns the pool whose protobuf encoding is the largest.
func largestPool(ctx context.Context, server *testserver.Server, pools []pool) (poolSize, error) {
	var largest poolSize
	var largestPool pool
	for _, p := range pools {
		data, err := runtime.Encode(scheme.Codecs.EncoderForVersion(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), p.gv), p.object)
		if err != nil {
			return largest, err
		}
		if len(data) > largest.protobuf {
			largest, largestPool = poolSize{name: p.name, protobuf: len(data), reservations: p.reservations}, p
		}
	}
	if largest.name == "" {
		return largest, nil
	}
	data, err := runtime.Encode(scheme.Codecs.LegacyCodec(largestPool.gv), largestPool.object)
	if err != nil {
		return largest, err
	}
	largest.json = len(data)
	largest.etcd = storedSize(ctx, server, apiserver.EtcdPathPrefix+largestPool.etcdKey, largestPool.object)
	return largest, nil
}

// storedSize returns the bytes of the value at key in the apiserver's etcd at the object's
// resourceVersion (the same version as the object), or 0.
func storedSize(ctx context.Context, server *testserver.Server, key string, object runtime.Object) int {
	accessor, err := meta.Accessor(object)
	if err != nil {
		return 0
	}
	rev, err := strconv.ParseInt(accessor.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{server.EtcdEndpoint}, TLS: server.EtcdTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		return 0
	}
	defer etcd.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := etcd.Get(ctx, key, clientv3.WithRev(rev))
	if err != nil || len(resp.Kvs) != 1 {
		return 0
	}
	return len(resp.Kvs[0].Value)
}
