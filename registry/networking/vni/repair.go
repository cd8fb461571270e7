package vni

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// Network is a stored Network as the repair pass sees it.
type Network struct {
	Holder Holder
	VNI    int32
}

// NetworkLister returns every stored Network.
type NetworkLister func(ctx context.Context) ([]Network, error)

// suspect is a live claim seen without its network.
type suspect struct {
	revision int64
	since    time.Time
}

// SetNetworks tells the repair pass how to list the stored networks; the network storage
// calls it once it is built.
func (a *Allocator) SetNetworks(list NetworkLister) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.networks = list
}

// RunRepair runs Repair every RepairInterval until ctx ends.
func (a *Allocator) RunRepair(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if _, err := a.Repair(ctx); err != nil {
			klog.ErrorS(err, "VNI repair pass failed; retrying at the next pass")
		}
	}, a.options.RepairInterval)
}

// Repair runs one repair pass and returns how many claims it put in quarantine. A live claim
// whose network is gone (no stored network with its name, UID and VNI) is reclaimed once it has
// been seen so, unchanged, for RepairGrace: that covers a create that failed after its claim
// (server-side apply claims before the write), a release that failed after a delete, and a
// crash between the two. A stored network whose claim is missing gets it back.
func (a *Allocator) Repair(ctx context.Context) (int, error) {
	a.mu.Lock()
	list := a.networks
	a.mu.Unlock()
	if list == nil {
		return 0, nil
	}
	// Claims first, networks second: a claim made after the first read is not judged, and a
	// network stored after its claim was read is in the list.
	claims, err := a.Claims(ctx)
	if err != nil {
		return 0, err
	}
	networks, err := list(ctx)
	if err != nil {
		return 0, err
	}
	stored := make(map[string]Network, len(networks))
	for _, n := range networks {
		stored[n.Holder.String()] = n
	}
	byVNI := make(map[int32]Claim, len(claims))
	reclaimed := 0
	now := time.Now()
	a.mu.Lock()
	seen := map[int32]bool{}
	var due []Claim
	for _, claim := range claims {
		byVNI[claim.VNI] = claim
		if claim.Released != nil {
			continue
		}
		if n, ok := stored[claim.Holder.String()]; ok && n.VNI == claim.VNI && claim.HeldBy(n.Holder) {
			continue
		}
		seen[claim.VNI] = true
		s, known := a.suspects[claim.VNI]
		if !known || s.revision != claim.Revision {
			a.suspects[claim.VNI] = suspect{revision: claim.Revision, since: now}
			continue
		}
		if now.Sub(s.since) >= a.options.RepairGrace {
			due = append(due, claim)
		}
	}
	for vni := range a.suspects {
		if !seen[vni] {
			delete(a.suspects, vni)
		}
	}
	a.mu.Unlock()

	for _, claim := range due {
		ok, err := a.quarantine(ctx, claim)
		if err != nil {
			return reclaimed, err
		}
		if ok {
			reclaimed++
			klog.InfoS("Reclaimed a VNI claim whose network is gone; it is in quarantine now", "vni", claim.VNI,
				"network", claim.Holder.String(), "uid", claim.Holder.UID, "quarantine", a.options.Quarantine)
		}
		a.mu.Lock()
		delete(a.suspects, claim.VNI)
		a.mu.Unlock()
	}

	for _, n := range networks {
		if claim, ok := byVNI[n.VNI]; n.VNI == 0 || (ok && claim.HeldBy(n.Holder)) {
			continue
		}
		if err := a.restore(ctx, n); err != nil {
			return reclaimed, err
		}
	}
	return reclaimed, nil
}

// restore gives a stored network back the claim of its VNI when the claim is missing or in
// quarantine (a release raced with the store). It reads the claim again: the first read is
// older than the list of networks.
func (a *Allocator) restore(ctx context.Context, n Network) error {
	claim, err := a.Get(ctx, n.VNI)
	if err != nil {
		return err
	}
	key := a.key(n.VNI)
	switch {
	case claim == nil:
		ok, err := a.tryClaim(ctx, n.VNI, encodeClaim(n.Holder, nil))
		if ok {
			klog.InfoS("Restored the missing VNI claim of a stored network", "vni", n.VNI, "network", n.Holder.String())
		}
		return err
	case claim.HeldBy(n.Holder):
		return nil
	case claim.Released != nil && claim.Holder == n.Holder:
		_, err := a.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", claim.Revision)).
			Then(clientv3.OpPut(key, encodeClaim(n.Holder, nil))).
			Commit()
		if err == nil {
			klog.InfoS("Took a stored network's VNI out of quarantine", "vni", n.VNI, "network", n.Holder.String())
		}
		return err
	default:
		klog.ErrorS(nil, "A stored network's VNI is claimed by another network; one of them must be recreated",
			"vni", n.VNI, "network", n.Holder.String(), "claimedBy", claim.Holder.String(), "claimedByUID", claim.Holder.UID)
		return nil
	}
}
