//go:build e2e

package crash

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
)

// checkStored reads every Machine of the namespace straight from etcd and checks that each
// decodes whole with the apiserver's codecs, is one of the Machines this run sent and carries
// what the client sent, that UIDs are unique, and that every acknowledged create is there.
func checkStored(t *testing.T, etcd *cluster.Etcd, run string, outcomes []outcome) {
	t.Helper()
	prefix := apiserver.EtcdPathPrefix + "/compute.ferrite.dev/machines/" + namespace + "/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := etcd.Client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	decoder := apiserver.Codecs.UniversalDeserializer()
	index := map[string]int{}
	for i := range outcomes {
		index[name(i)] = i
	}
	stored := map[string]bool{}
	uids := map[string]string{}
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		obj, _, err := decoder.Decode(kv.Value, nil, nil)
		if err != nil {
			fail("%s: does not decode (half-written?): %v", key, err)
			continue
		}
		m, ok := obj.(*computev1alpha1.Machine)
		if !ok {
			fail("%s: decodes to %T, not a Machine", key, obj)
			continue
		}
		machineName := strings.TrimPrefix(key, prefix)
		i, ours := index[machineName]
		switch {
		case !ours:
			fail("%s: a Machine this run never sent", key)
			continue
		case m.Name != machineName || m.Namespace != namespace:
			fail("%s: stored object is %s/%s", key, m.Namespace, m.Name)
		case m.Annotations[writerKey] != writer(run, i):
			fail("%s: written by %q, want %q", key, m.Annotations[writerKey], writer(run, i))
		case m.UID == "" || m.Generation != 1 || m.CreationTimestamp.IsZero():
			fail("%s: metadata incomplete: uid %q, generation %d, created %v", key, m.UID, m.Generation, m.CreationTimestamp)
		case m.Spec.MachineClassRef.Name != "x3-small" || m.Spec.Image == "" || m.Spec.Power != computev1alpha1.PowerOn:
			fail("%s: spec differs from what was sent: %+v", key, m.Spec)
		}
		if other, dup := uids[string(m.UID)]; dup {
			fail("%s: UID %s also used by %s", key, m.UID, other)
		}
		uids[string(m.UID)] = key
		stored[machineName] = true
	}
	acknowledged, confirmed, retried := 0, 0, 0
	for i, o := range outcomes {
		if o.attempts > 1 {
			retried++
		}
		if o.acknowledged {
			acknowledged++
		}
		if o.confirmed {
			confirmed++
		}
		if (o.acknowledged || o.confirmed) && !stored[name(i)] {
			fail("%s: the create was acknowledged but etcd does not hold it", name(i))
		}
	}
	t.Logf("etcd holds %d Machines, all decoded; %d acknowledged with 201, %d confirmed through AlreadyExists after a retry, %d needed more than one attempt",
		len(resp.Kvs), acknowledged, confirmed, retried)
	if len(resp.Kvs) != len(outcomes) {
		t.Errorf("etcd holds %d Machines, want exactly %d", len(resp.Kvs), len(outcomes))
	}
	if retried == 0 {
		t.Errorf("no create was retried: the kills did not hit requests in flight")
	}
}
