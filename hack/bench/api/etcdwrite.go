package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/scheme"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// storedWriter writes Machines straight into etcd in the form the apiserver stores them
// (protobuf of the served version), starting from a Machine the apiserver stored itself. The
// apiserver's watch cache takes each write in from its etcd watch as it takes in its own,
// so the apiserver's CPU spent on such writes is the cost of an event alone: decoding it
// from etcd, the watch cache, the dispatch to watchers and the encoding and sending to each.
type storedWriter struct {
	etcd     *clientv3.Client
	template *computev1alpha1.Machine
	encoder  *protobuf.Serializer
}

// newStoredWriter decodes stored, the bytes of a Machine as the apiserver stored it.
func newStoredWriter(etcd *clientv3.Client, stored []byte) (*storedWriter, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(stored, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding a stored Machine: %w", err)
	}
	m, ok := obj.(*computev1alpha1.Machine)
	if !ok {
		return nil, fmt.Errorf("a stored Machine decodes to %T", obj)
	}
	return &storedWriter{etcd: etcd, template: m, encoder: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)}, nil
}

// machine returns the stored form of Machine name in namespace, bound to pool (none if
// empty), with a status that differs by version so that every write changes the value.
func (s *storedWriter) machine(namespace, name, pool string, version int) ([]byte, error) {
	m := s.template.DeepCopy()
	m.APIVersion, m.Kind = computev1alpha1.SchemeGroupVersion.String(), "Machine"
	m.Namespace, m.Name = namespace, name
	m.UID = types.UID(fmt.Sprintf("00000000-bench-%s-%s", namespace, name))
	m.ResourceVersion = ""
	m.Spec.MachinePoolRef = nil
	if pool != "" {
		m.Spec.MachinePoolRef = &computev1alpha1.MachinePoolReference{Name: pool}
	}
	m.Status.MachineID = fmt.Sprintf("bench-%d", version)
	var buf bytes.Buffer
	if err := s.encoder.Encode(m, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// key is the etcd key of a Machine.
func machineKey(namespace, name string) string { return machinesPrefix + namespace + "/" + name }

// write puts n Machines machineName(0..n-1) of namespace into etcd, machine i bound to
// pool(i), at most rate per second (0: no limit) from workers concurrent writers.
func (s *storedWriter) write(ctx context.Context, meter load.CPUMeter, namespace string, n, version, workers int, rate float64, pool func(int) string) load.Result {
	start := time.Now()
	return load.Run(ctx, meter, n, workers, func(ctx context.Context, _, i int) error {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		value, err := s.machine(namespace, machineName(i), pool(i), version)
		if err != nil {
			return err
		}
		_, err = s.etcd.Put(ctx, machineKey(namespace, machineName(i)), string(value))
		return err
	})
}

// revision is etcd's current revision, which is the apiserver's resource version.
func (s *storedWriter) revision(ctx context.Context) (int64, error) {
	resp, err := s.etcd.Get(ctx, "health")
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}
