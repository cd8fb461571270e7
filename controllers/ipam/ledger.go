package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
)

// ErrExhausted means the parent has no room for the request.
var ErrExhausted = errors.New("prefix exhausted")

// errParentNotReady means the parent prefix is not allocated yet.
var errParentNotReady = errors.New("parent prefix not allocated yet")

// maxLedgerAttempts bounds the optimistic-concurrency retries on one prefix ledger.
const maxLedgerAttempts = 10

// Ledger writes allocations into parent prefixes' status.used.
type Ledger struct {
	// Client writes to the API server.
	Client client.Client
	// APIReader reads prefixes live; allocation never trusts a cache.
	APIReader client.Reader
	// RecordWithin bounds how long after a reservation its owner may still be written. It must be
	// well below the release grace: another process releases an entry that stayed unclaimed for
	// the grace, so an owner write after that could hand the address out twice.
	RecordWithin time.Duration

	mu sync.Mutex
	// inFlight holds, per prefix, the CIDRs this process reserved and has not recorded in their
	// owner yet; the release pass never drops them.
	inFlight map[types.NamespacedName]map[string]int
}

// Reserve adds a range chosen by pick to the parent's ledger and returns it. pick sees the
// parent's range and its used ranges; it returns the range to take, or ErrExhausted. The caller
// must call Recorded once the owner holds the range (or on failure to record it).
func (l *Ledger) Reserve(ctx context.Context, parentKey types.NamespacedName, pick func(parent netip.Prefix, used []netip.Prefix) (netip.Prefix, error)) (netip.Prefix, error) {
	for attempt := 0; attempt < maxLedgerAttempts; attempt++ {
		parent := &ipamv1alpha1.Prefix{}
		if err := l.APIReader.Get(ctx, parentKey, parent); err != nil {
			return netip.Prefix{}, err
		}
		parentRange, err := netip.ParsePrefix(parent.Spec.Prefix)
		if err != nil || parent.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated {
			return netip.Prefix{}, errParentNotReady
		}
		chosen, err := pick(parentRange, ParsePrefixes(parent.Status.Used))
		if err != nil {
			return netip.Prefix{}, err
		}
		l.track(parentKey, chosen.String(), 1)
		parent.Status.Used = append(parent.Status.Used, chosen.String())
		err = l.Client.Status().Update(ctx, parent)
		if err == nil {
			return chosen, nil
		}
		l.track(parentKey, chosen.String(), -1)
		if !apierrors.IsConflict(err) {
			return netip.Prefix{}, err
		}
	}
	return netip.Prefix{}, fmt.Errorf("prefix %s stayed contended", parentKey)
}

// GiveBack removes a range this process reserved and whose owner write failed for certain (a
// conflict), so the range is free again at once instead of after the release grace. Call it with
// the RecordContext of the reservation: within that deadline no releaser can have freed the range
// and handed it to someone else, and the removal is preconditioned on the resourceVersion it read.
// A failure leaves the range to the release pass.
func (l *Ledger) GiveBack(ctx context.Context, parentKey types.NamespacedName, cidr netip.Prefix) error {
	for attempt := 0; attempt < maxLedgerAttempts; attempt++ {
		parent := &ipamv1alpha1.Prefix{}
		if err := l.APIReader.Get(ctx, parentKey, parent); err != nil {
			return client.IgnoreNotFound(err)
		}
		kept := make([]string, 0, len(parent.Status.Used))
		for _, used := range parent.Status.Used {
			if used != cidr.String() {
				kept = append(kept, used)
			}
		}
		if len(kept) == len(parent.Status.Used) {
			return nil
		}
		parent.Status.Used = kept
		err := l.Client.Status().Update(ctx, parent)
		if err == nil || !apierrors.IsConflict(err) {
			return client.IgnoreNotFound(err)
		}
	}
	return fmt.Errorf("prefix %s stayed contended", parentKey)
}

// RecordContext bounds ctx for writing the owner of a reservation just made.
func (l *Ledger) RecordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.RecordWithin)
}

// Recorded ends the in-flight protection of a range reserved by Reserve.
func (l *Ledger) Recorded(parentKey types.NamespacedName, cidr netip.Prefix) {
	l.track(parentKey, cidr.String(), -1)
}

// InFlight reports whether this process is still recording cidr in its owner.
func (l *Ledger) InFlight(parentKey types.NamespacedName, cidr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight[parentKey][cidr] > 0
}

func (l *Ledger) track(parentKey types.NamespacedName, cidr string, delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight == nil {
		l.inFlight = map[types.NamespacedName]map[string]int{}
	}
	if l.inFlight[parentKey] == nil {
		l.inFlight[parentKey] = map[string]int{}
	}
	l.inFlight[parentKey][cidr] += delta
	if l.inFlight[parentKey][cidr] <= 0 {
		delete(l.inFlight[parentKey], cidr)
	}
}
