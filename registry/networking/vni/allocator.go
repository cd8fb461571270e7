// Package vni hands out the overlay network identifiers (VXLAN VNIs) of Networks.
//
// Each claim is an etcd key created with a create-if-absent transaction, so concurrent
// creates, even on several apiservers, never get the same VNI. A VNI whose key exists is taken,
// whatever the key holds. When a network is gone, its claim is not deleted but marked released
// and bound to an etcd lease of the quarantine's length, so etcd itself deletes the key when
// the quarantine ends: the quarantine holds across apiserver restarts and between apiservers
// sharing the etcd, and a crash between any two steps leaves the VNI taken (a claim without
// its network is reclaimed by the repair pass), never free too early.
package vni

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// Min is the smallest VNI there is; 0 is not a valid VNI.
	Min = 1
	// Max is the largest 24-bit VNI.
	Max = 1<<24 - 1
)

// ExhaustedError is returned when every VNI of the range is taken.
type ExhaustedError struct {
	// Min and Max are the range.
	Min, Max int32
	// Quarantined is how many of the taken VNIs are in quarantine after their network was
	// deleted; they become free on their own.
	Quarantined int
	// Quarantine is the configured quarantine.
	Quarantine time.Duration
}

func (e *ExhaustedError) Error() string {
	msg := fmt.Sprintf("no free VNI left: all %d VNIs of %d-%d are taken", int64(e.Max)-int64(e.Min)+1, e.Min, e.Max)
	if e.Quarantined > 0 {
		msg += fmt.Sprintf(", %d of them in quarantine for up to %s after their network was deleted", e.Quarantined, e.Quarantine)
	}
	return msg
}

// IsExhausted reports whether err says the VNI range is exhausted.
func IsExhausted(err error) bool {
	var exhausted *ExhaustedError
	return errors.As(err, &exhausted)
}

// Allocator claims and releases VNIs in etcd.
type Allocator struct {
	client  *clientv3.Client
	prefix  string // ends with "/"
	options Options

	mu       sync.Mutex
	cursor   int32 // next candidate; a hint only, etcd decides
	loaded   bool
	networks NetworkLister // for the repair pass
	suspects map[int32]suspect
}

// NewAllocator returns an allocator that keeps its claims under keyPrefix (for example
// "/registry/networking.ferrite.dev/vniclaims/").
func NewAllocator(client *clientv3.Client, keyPrefix string, options Options) *Allocator {
	if !strings.HasSuffix(keyPrefix, "/") {
		keyPrefix += "/"
	}
	return &Allocator{client: client, prefix: keyPrefix, options: options, cursor: options.Min, suspects: map[int32]suspect{}}
}

func (a *Allocator) key(vni int32) string { return a.prefix + strconv.Itoa(int(vni)) }

func (a *Allocator) parseKey(key []byte) (int32, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(string(key), a.prefix))
	if err != nil || n < Min || n > Max {
		return 0, false
	}
	return int32(n), true
}

// Allocate claims a free VNI for holder. It returns an *ExhaustedError when the range is
// full.
func (a *Allocator) Allocate(ctx context.Context, holder Holder) (int32, error) {
	if err := a.loadCursor(ctx); err != nil {
		return 0, err
	}
	value := encodeClaim(holder, nil)
	// The next VNI after the last one handed out is almost always free: one transaction.
	candidate := a.advance(nil)
	probes := 0
	for range 1000 {
		ok, err := a.tryClaim(ctx, candidate, value)
		if err != nil {
			return 0, err
		}
		if ok {
			return candidate, nil
		}
		// Taken, most often by another apiserver whose cursor runs next to this one's (both
		// start after the highest claim): the following VNIs are tried one transaction each
		// before every claim is read, a read that grows with the number of Networks.
		if probes < sequentialProbes {
			probes++
			candidate = a.advance(nil)
			continue
		}
		probes = 0
		// Still taken: read every claim and pick the first free VNI after the cursor. Another
		// apiserver may take it first; then probe and read again.
		claims, err := a.Claims(ctx)
		if err != nil {
			return 0, err
		}
		taken := make(map[int32]bool, len(claims))
		quarantined := 0
		for _, claim := range claims {
			if claim.VNI >= a.options.Min && claim.VNI <= a.options.Max {
				taken[claim.VNI] = true
				if claim.Released != nil {
					quarantined++
				}
			}
		}
		if int64(len(taken)) >= int64(a.options.Max)-int64(a.options.Min)+1 {
			return 0, &ExhaustedError{Min: a.options.Min, Max: a.options.Max, Quarantined: quarantined, Quarantine: a.options.Quarantine}
		}
		candidate = a.advance(func(vni int32) bool { return taken[vni] })
	}
	return 0, fmt.Errorf("could not claim a VNI: every candidate was taken by a concurrent create; retry")
}

// sequentialProbes is how many VNIs after a taken one Allocate tries, one transaction each,
// before it reads every claim: enough for apiservers allocating side by side, few enough that a
// taken stretch (after the range wrapped around) soon leads to the read.
const sequentialProbes = 8

// tryClaim creates the key of vni if it does not exist.
func (a *Allocator) tryClaim(ctx context.Context, vni int32, value string) (bool, error) {
	key := a.key(vni)
	resp, err := a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("claiming VNI %d: %w", vni, err)
	}
	return resp.Succeeded, nil
}

// advance returns the cursor's VNI, or with taken the first VNI from the cursor on (wrapping
// around the range) that taken does not report, and moves the cursor past it.
func (a *Allocator) advance(taken func(int32) bool) int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	candidate := a.cursor
	if candidate < a.options.Min || candidate > a.options.Max {
		candidate = a.options.Min
	}
	for taken != nil && taken(candidate) {
		candidate = a.wrap(candidate + 1)
	}
	a.cursor = a.wrap(candidate + 1)
	return candidate
}

func (a *Allocator) wrap(vni int32) int32 {
	if vni > a.options.Max || vni < a.options.Min {
		return a.options.Min
	}
	return vni
}

// loadCursor starts the search after the highest claimed VNI, so that a restarted apiserver
// goes on where it stopped and recently released VNIs come last.
func (a *Allocator) loadCursor(ctx context.Context) error {
	a.mu.Lock()
	loaded := a.loaded
	a.mu.Unlock()
	if loaded {
		return nil
	}
	claims, err := a.Claims(ctx)
	if err != nil {
		return err
	}
	highest := int32(0)
	for _, claim := range claims {
		if claim.VNI > highest && claim.VNI <= a.options.Max {
			highest = claim.VNI
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded && highest >= a.options.Min {
		a.cursor = a.wrap(highest + 1)
	}
	a.loaded = true
	return nil
}

// Claims returns every claim, live and in quarantine, in key order.
func (a *Allocator) Claims(ctx context.Context) ([]Claim, error) {
	resp, err := a.client.Get(ctx, a.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading VNI claims: %w", err)
	}
	claims := make([]Claim, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if vni, ok := a.parseKey(kv.Key); ok {
			claims = append(claims, decodeClaim(vni, kv.Value, kv.ModRevision))
		}
	}
	return claims, nil
}

// Get returns the claim of vni, or nil when the VNI is free.
func (a *Allocator) Get(ctx context.Context, vni int32) (*Claim, error) {
	resp, err := a.client.Get(ctx, a.key(vni))
	if err != nil {
		return nil, fmt.Errorf("reading the claim of VNI %d: %w", vni, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	claim := decodeClaim(vni, resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
	return &claim, nil
}

// Free deletes the claim of vni at once if holder still holds it. It is for a create that
// failed: the network was never stored, so no traffic can use the VNI.
func (a *Allocator) Free(ctx context.Context, vni int32, holder Holder) error {
	claim, err := a.Get(ctx, vni)
	if err != nil || claim == nil || !claim.HeldBy(holder) {
		return err
	}
	key := a.key(vni)
	_, err = a.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", claim.Revision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("freeing VNI %d: %w", vni, err)
	}
	return nil
}

// Release puts vni in quarantine if holder still holds it; releasing a VNI that holder does
// not hold (anymore) is not an error. Call it only once the network is gone from etcd.
func (a *Allocator) Release(ctx context.Context, vni int32, holder Holder) error {
	claim, err := a.Get(ctx, vni)
	if err != nil || claim == nil || !claim.HeldBy(holder) {
		return err
	}
	_, err = a.quarantine(ctx, *claim)
	return err
}

// quarantine marks claim released and lets etcd delete it when the quarantine ends, if the
// key is still at claim.Revision. A crash after the lease is granted and before the key is
// written leaves an unused lease, which expires, and the claim as it was.
func (a *Allocator) quarantine(ctx context.Context, claim Claim) (bool, error) {
	key := a.key(claim.VNI)
	unchanged := clientv3.Compare(clientv3.ModRevision(key), "=", claim.Revision)
	if a.options.Quarantine <= 0 {
		resp, err := a.client.Txn(ctx).If(unchanged).Then(clientv3.OpDelete(key)).Commit()
		if err != nil {
			return false, fmt.Errorf("freeing VNI %d: %w", claim.VNI, err)
		}
		return resp.Succeeded, nil
	}
	ttl := int64(math.Ceil(a.options.Quarantine.Seconds()))
	lease, err := a.client.Grant(ctx, ttl)
	if err != nil {
		return false, fmt.Errorf("granting the quarantine lease of VNI %d: %w", claim.VNI, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	resp, err := a.client.Txn(ctx).If(unchanged).
		Then(clientv3.OpPut(key, encodeClaim(claim.Holder, &now), clientv3.WithLease(lease.ID))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("putting VNI %d in quarantine: %w", claim.VNI, err)
	}
	if !resp.Succeeded {
		// Someone changed the claim meanwhile; the unused lease goes away (now, or on expiry).
		_, _ = a.client.Revoke(ctx, lease.ID)
	}
	return resp.Succeeded, nil
}
