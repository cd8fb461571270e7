package durable

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
)

// Summary counts what a check found.
type Summary struct {
	// Stored is the number of objects found; Acknowledged, Confirmed and Retried count the
	// outcomes (Outcome) that were acknowledged with 201, confirmed after AlreadyExists, and
	// needed more than one attempt.
	Stored, Acknowledged, Confirmed, Retried int
}

func (s Summary) String() string {
	return fmt.Sprintf("%d stored; %d acknowledged with 201, %d confirmed through AlreadyExists after a retry, %d needed more than one attempt",
		s.Stored, s.Acknowledged, s.Confirmed, s.Retried)
}

// failures reports the first few of many errors and counts them all.
type failures struct {
	t     testing.TB
	count int
}

func (f *failures) add(format string, args ...any) {
	f.t.Helper()
	f.count++
	if f.count <= 20 {
		f.t.Errorf(format, args...)
	}
}

// CheckMachinesInEtcd reads every Machine of the set's namespace straight from etcd and checks
// that each decodes whole with the apiserver's codecs (none is half-written), is one of the
// set's Machines and carries what its client sent, that UIDs are unique, that etcd holds
// exactly the set, and that every create the client knows as done is there.
func CheckMachinesInEtcd(t testing.TB, etcd *clientv3.Client, set *Set) Summary {
	t.Helper()
	prefix := apiserver.EtcdPathPrefix + "/compute.ferrite.dev/machines/" + set.Namespace + "/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	decoder := apiserver.Codecs.UniversalDeserializer()
	stored := map[string]bool{}
	uids := map[string]string{}
	fail := &failures{t: t}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		obj, _, err := decoder.Decode(kv.Value, nil, nil)
		if err != nil {
			fail.add("%s: does not decode (half-written?): %v", key, err)
			continue
		}
		m, ok := obj.(*computev1alpha1.Machine)
		if !ok {
			fail.add("%s: decodes to %T, not a Machine", key, obj)
			continue
		}
		name := strings.TrimPrefix(key, prefix)
		i, ours := set.Index(name)
		switch {
		case !ours:
			fail.add("%s: a Machine this run never sent", key)
			continue
		case m.Name != name || m.Namespace != set.Namespace:
			fail.add("%s: stored object is %s/%s", key, m.Namespace, m.Name)
		case m.Annotations[WriterKey] != set.Writer(i):
			fail.add("%s: written by %q, want %q", key, m.Annotations[WriterKey], set.Writer(i))
		case m.UID == "" || m.Generation != 1 || m.CreationTimestamp.IsZero():
			fail.add("%s: metadata incomplete: uid %q, generation %d, created %v", key, m.UID, m.Generation, m.CreationTimestamp)
		case m.Spec.MachineClassRef.Name != "x3-small" || m.Spec.Image == "" || m.Spec.Power != computev1alpha1.PowerOn:
			fail.add("%s: spec differs from what was sent: %+v", key, m.Spec)
		}
		if other, dup := uids[string(m.UID)]; dup {
			fail.add("%s: UID %s also used by %s", key, m.UID, other)
		}
		uids[string(m.UID)] = key
		stored[name] = true
	}
	summary := compare(fail, set, stored, "etcd")
	if len(resp.Kvs) != len(set.Outcomes) {
		t.Errorf("etcd holds %d Machines, want exactly %d", len(resp.Kvs), len(set.Outcomes))
	}
	return summary
}

// CheckListed checks objects read back through the API, given as name -> WriterKey
// annotation: each is one of the set's, written by its client, every create the client knows
// as done is there, and there are exactly as many as the set has.
func CheckListed(t testing.TB, set *Set, writers map[string]string) Summary {
	t.Helper()
	fail := &failures{t: t}
	stored := map[string]bool{}
	for name, writer := range writers {
		i, ours := set.Index(name)
		switch {
		case !ours:
			fail.add("%s/%s: an object this run never sent", set.Namespace, name)
			continue
		case writer != set.Writer(i):
			fail.add("%s/%s: written by %q, want %q", set.Namespace, name, writer, set.Writer(i))
		}
		stored[name] = true
	}
	summary := compare(fail, set, stored, "the API")
	if len(writers) != len(set.Outcomes) {
		t.Errorf("the API lists %d objects named %s-*, want exactly %d", len(writers), set.Prefix, len(set.Outcomes))
	}
	return summary
}

// compare checks that every create known as done is among stored and counts the outcomes.
func compare(fail *failures, set *Set, stored map[string]bool, where string) Summary {
	fail.t.Helper()
	s := Summary{Stored: len(stored)}
	for i, o := range set.Outcomes {
		if o.Attempts > 1 {
			s.Retried++
		}
		if o.Acknowledged {
			s.Acknowledged++
		}
		if o.Confirmed {
			s.Confirmed++
		}
		if o.Done() && !stored[set.Name(i)] {
			fail.add("%s/%s: the create was acknowledged but %s does not hold it", set.Namespace, set.Name(i), where)
		}
	}
	return s
}
