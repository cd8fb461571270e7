// Package vni hands out the overlay network identifiers (VXLAN VNIs) of Networks. Each claim
// is an etcd key created with a create-if-absent transaction, so concurrent creates, even on
// several apiservers, never get the same VNI, and a VNI is free again only once its claim is
// deleted with the network.
package vni

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// Min is the smallest VNI handed out; 0 is not a valid VNI.
	Min = 1
	// Max is the largest 24-bit VNI.
	Max = 1<<24 - 1
)

// ErrExhausted is returned when every VNI is claimed.
var ErrExhausted = errors.New("no free VNI left")

// Allocator claims and releases VNIs in etcd.
type Allocator struct {
	client *clientv3.Client
	prefix string // ends with "/"

	mu     sync.Mutex
	cursor int32 // next candidate; a hint only, etcd decides
	loaded bool
}

// NewAllocator returns an allocator that keeps its claims under keyPrefix (for example
// "/registry/networking.ferrite.dev/vniclaims/").
func NewAllocator(client *clientv3.Client, keyPrefix string) *Allocator {
	if !strings.HasSuffix(keyPrefix, "/") {
		keyPrefix += "/"
	}
	return &Allocator{client: client, prefix: keyPrefix, cursor: Min}
}

func (a *Allocator) key(vni int32) string { return a.prefix + strconv.Itoa(int(vni)) }

// Allocate claims a free VNI for owner (namespace/name of the network).
func (a *Allocator) Allocate(ctx context.Context, owner string) (int32, error) {
	if err := a.loadCursor(ctx); err != nil {
		return 0, err
	}
	for tries := 0; tries < Max; tries++ {
		candidate := a.nextCandidate()
		key := a.key(candidate)
		resp, err := a.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, owner)).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("claiming VNI %d: %w", candidate, err)
		}
		if resp.Succeeded {
			return candidate, nil
		}
	}
	return 0, ErrExhausted
}

// Release frees vni if owner still holds it; releasing an unclaimed VNI is not an error.
func (a *Allocator) Release(ctx context.Context, vni int32, owner string) error {
	if vni < Min || vni > Max {
		return nil
	}
	key := a.key(vni)
	_, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", owner)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("releasing VNI %d: %w", vni, err)
	}
	return nil
}

// Owner returns who holds vni, or "" when it is free.
func (a *Allocator) Owner(ctx context.Context, vni int32) (string, error) {
	resp, err := a.client.Get(ctx, a.key(vni))
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

func (a *Allocator) nextCandidate() int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	candidate := a.cursor
	a.cursor++
	if a.cursor > Max {
		a.cursor = Min
	}
	return candidate
}

// loadCursor starts the search after the highest claimed VNI, so that a restarted apiserver
// does not probe every claimed VNI one by one.
func (a *Allocator) loadCursor(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded {
		return nil
	}
	resp, err := a.client.Get(ctx, a.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("reading VNI claims: %w", err)
	}
	highest := int32(0)
	for _, kv := range resp.Kvs {
		n, err := strconv.Atoi(strings.TrimPrefix(string(kv.Key), a.prefix))
		if err == nil && int32(n) > highest {
			highest = int32(n)
		}
	}
	if highest >= Min && highest < Max {
		a.cursor = highest + 1
	}
	a.loaded = true
	return nil
}
