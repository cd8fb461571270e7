// Package poolstatus registers a poollet's pool (a MachinePool or a VolumePool) and writes the
// pool's status the way every poollet must: JSON merge patches of the fields the poollet owns
// (capacity, allocatable, heartbeat, Ready), never the whole status, so the scheduler's ledger
// (allocated, allocatedRevision, reservations) is never touched.
package poolstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Ensure returns the pool named name from c (the manager's cache), else from apiReader (the
// cache may lag), else creates desired(). created says whether it created the pool. An existing
// pool's labels and spec are left alone.
func Ensure[T client.Object](ctx context.Context, c client.Client, apiReader client.Reader, name string, empty, desired func() T) (pool T, created bool, err error) {
	key := types.NamespacedName{Name: name}
	pool = empty()
	if err = c.Get(ctx, key, pool); err == nil || !apierrors.IsNotFound(err) {
		return pool, false, err
	}
	if err = apiReader.Get(ctx, key, pool); err == nil || !apierrors.IsNotFound(err) {
		return pool, false, err
	}
	pool = desired()
	if err = c.Create(ctx, pool); err != nil {
		if apierrors.IsAlreadyExists(err) {
			pool = empty()
			return pool, false, apiReader.Get(ctx, key, pool)
		}
		return pool, false, err
	}
	return pool, true, nil
}

// Patch writes a JSON merge patch of the given status fields of pool.
func Patch(ctx context.Context, c client.Client, pool client.Object, status map[string]any) error {
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, pool, client.RawPatch(types.MergePatchType, data))
}

// MergeList is the JSON merge patch that turns the resource list old into new: null removes
// the names that disappeared.
func MergeList(old, new corev1.ResourceList) map[string]any {
	out := map[string]any{}
	for name := range old {
		if _, ok := new[name]; !ok {
			out[string(name)] = nil
		}
	}
	for name, q := range new {
		out[string(name)] = q.String()
	}
	return out
}

// ParseLabels parses a label flag, k=v[,k=v...] (--pool-labels, a broker's pool selector); the
// caller names the flag in the error.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
