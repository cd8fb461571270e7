package network_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// claimReads is etcd's KV counting the reads of every VNI claim (a GET of the claims' prefix).
type claimReads struct {
	clientv3.KV
	prefix string
	count  *atomic.Int64
}

func (c claimReads) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if key == c.prefix {
		c.count.Add(1)
	}
	return c.KV.Get(ctx, key, opts...)
}

// Two apiservers creating Networks side by side: their allocators start after the same highest
// claim and take turns, so each one's next VNI was just taken by the other. They hand out
// distinct VNIs without reading every claim on each collision, which at 100,000 Networks would
// be megabytes per create.
func TestVNIAllocatorsSideBySide(t *testing.T) {
	_, etcd := startEtcd(t)
	const prefix = "/leapfrog/"
	var reads atomic.Int64
	allocators := make([]*vni.Allocator, 2)
	for i := range allocators {
		client, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		client.KV = claimReads{KV: client.KV, prefix: prefix, count: &reads}
		allocators[i] = vni.NewAllocator(client, prefix, vni.NewOptions())
	}
	ctx := context.Background()
	const each = 200
	seen := map[int32]string{}
	for n := range each {
		for i, a := range allocators {
			holder := vni.Holder{Namespace: "ns", Name: fmt.Sprintf("net-%d-%d", i, n), UID: types.UID(fmt.Sprintf("uid-%d-%d", i, n))}
			got, err := a.Allocate(ctx, holder)
			if err != nil {
				t.Fatal(err)
			}
			if other, taken := seen[got]; taken {
				t.Fatalf("VNI %d handed to %s and %s", got, other, holder.Name)
			}
			seen[got] = holder.Name
		}
	}
	// Each allocator reads every claim once, to start after the highest; the turns need no more.
	if got := reads.Load(); got > 2 {
		t.Errorf("%d reads of every claim for %d allocations by two allocators, want 2 (one start each)", got, 2*each)
	}
}
