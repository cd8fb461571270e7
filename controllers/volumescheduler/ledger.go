package volumescheduler

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// maxLedgerAttempts bounds the optimistic-concurrency retries on one pool before the scheduler
// moves on to the next candidate.
const maxLedgerAttempts = 6

// errPoolUnfit means the pool, as read live, can no longer take the volume.
var errPoolUnfit = errors.New("pool no longer fits")

// release removes the volume from the named pool's ledger, if it is there.
func release(ctx context.Context, c client.Client, reader client.Reader, poolName string, uid types.UID) error {
	for attempt := 0; attempt < maxLedgerAttempts; attempt++ {
		pool := &storagev1alpha1.VolumePool{}
		if err := reader.Get(ctx, client.ObjectKey{Name: poolName}, pool); err != nil {
			return client.IgnoreNotFound(err)
		}
		kept := pool.Status.Reservations[:0]
		for _, r := range pool.Status.Reservations {
			if r.VolumeUID != uid {
				kept = append(kept, r)
			}
		}
		if len(kept) == len(pool.Status.Reservations) {
			return nil
		}
		pool.Status.Reservations = kept
		err := c.Status().Update(ctx, pool)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return errors.New("pool ledger stayed contended")
}

// order returns the candidates in the order to try, per the scheduler's policy.
func (s *Scheduler) order(candidates []placement.Candidate) []placement.Candidate {
	top := 5
	if s.Policy == placement.BinPack {
		// Bin-packing wants the fullest pool; only ties may be broken at random.
		top = 1
	}
	return placement.Order(candidates, s.Policy, top)
}
