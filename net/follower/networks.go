package follower

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// networkCache reads the VNIs of the Networks the host's interfaces are in, by name, and keeps
// them for a while: a VNI never changes once assigned, so the only cost of the cache is how
// late a deleted Network is noticed. It holds only the Networks this host uses, never a
// cluster-wide list.
type networkCache struct {
	client  versioned.Interface
	refresh time.Duration

	mu      sync.Mutex
	entries map[string]networkEntry
}

type networkEntry struct {
	vni  uint32
	read time.Time
}

// errRead marks a Network that could not be read (as opposed to one that does not exist or has
// no VNI yet).
var errRead = errors.New("reading network")

func newNetworkCache(client versioned.Interface, refresh time.Duration) *networkCache {
	return &networkCache{client: client, refresh: refresh, entries: map[string]networkEntry{}}
}

// vni returns the VNI of a Network, or an error saying why there is none yet.
func (c *networkCache) vni(ctx context.Context, namespace, name string) (uint32, error) {
	key := namespace + "/" + name
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.read) < c.refresh {
		return e.vni, nil
	}
	network, err := c.client.NetworkingV1alpha1().Networks(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.forget(key)
		return 0, fmt.Errorf("network %s does not exist", key)
	case err != nil && ok:
		return e.vni, nil // keep serving what was known while the API is unreachable
	case err != nil:
		return 0, fmt.Errorf("%w %s: %v", errRead, key, err)
	case network.Status.VNI <= 0:
		return 0, fmt.Errorf("network %s has no VNI yet", key)
	}
	c.mu.Lock()
	c.entries[key] = networkEntry{vni: uint32(network.Status.VNI), read: time.Now()}
	c.mu.Unlock()
	return uint32(network.Status.VNI), nil
}

func (c *networkCache) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}
