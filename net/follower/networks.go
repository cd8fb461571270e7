package follower

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// networkCache reads the VNIs and agreed peerings of the Networks the host's interfaces are in
// (and of their peers), by name, and keeps them for a while (Config.NetworkRefresh): a VNI
// never changes once assigned, so the cost of the cache is how late a deleted Network or a
// changed peering is noticed. It holds only the Networks this host uses, never a
// cluster-wide list.
type networkCache struct {
	client  versioned.Interface
	refresh time.Duration

	mu      sync.Mutex
	entries map[string]networkEntry
}

type networkEntry struct {
	vni uint32
	// peers are the networks of the peerings in effect (status.peerings, agreed by both sides)
	peers []networkKey
	read  time.Time
}

// errRead marks a Network that could not be read (as opposed to one that does not exist or has
// no VNI yet).
var errRead = errors.New("reading network")

func newNetworkCache(client versioned.Interface, refresh time.Duration) *networkCache {
	return &networkCache{client: client, refresh: refresh, entries: map[string]networkEntry{}}
}

// vni returns the VNI of a Network, or an error saying why there is none yet.
func (c *networkCache) vni(ctx context.Context, namespace, name string) (uint32, error) {
	e, err := c.get(ctx, namespace, name)
	return e.vni, err
}

// peerVNIs returns the VNIs of the networks a Network is peered with; a peer that cannot be
// read now is left out until it can.
func (c *networkCache) peerVNIs(ctx context.Context, namespace, name string) []uint32 {
	e, err := c.get(ctx, namespace, name)
	if err != nil {
		return nil
	}
	var vnis []uint32
	for _, peer := range e.peers {
		if vni, err := c.vni(ctx, peer.namespace, peer.name); err == nil {
			vnis = append(vnis, vni)
		}
	}
	return vnis
}

func (c *networkCache) get(ctx context.Context, namespace, name string) (networkEntry, error) {
	key := namespace + "/" + name
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.read) < c.refresh {
		return e, nil
	}
	network, err := c.client.NetworkingV1alpha1().Networks(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.forget(key)
		return networkEntry{}, fmt.Errorf("network %s does not exist", key)
	case err != nil && ok:
		return e, nil // keep serving what was known while the API is unreachable
	case err != nil:
		return networkEntry{}, fmt.Errorf("%w %s: %v", errRead, key, err)
	case network.Status.VNI <= 0:
		return networkEntry{}, fmt.Errorf("network %s has no VNI yet", key)
	}
	e = networkEntry{vni: uint32(network.Status.VNI), read: time.Now()}
	for _, p := range network.Spec.Peerings {
		if !slices.Contains(network.Status.Peerings, p.Name) {
			continue // not agreed by the other side (yet)
		}
		peer := networkKey{namespace: p.NetworkRef.Namespace, name: p.NetworkRef.Name}
		if peer.namespace == "" {
			peer.namespace = namespace
		}
		e.peers = append(e.peers, peer)
	}
	c.mu.Lock()
	c.entries[key] = e
	c.mu.Unlock()
	return e, nil
}

func (c *networkCache) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}
