package apiserver_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
)

// TestStoredAsProtobuf checks that objects reach etcd as protobuf in their served version and
// that the storage codec still reads objects stored as JSON.
func TestStoredAsProtobuf(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	machine := &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "stored-as-protobuf"},
		Spec:       computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Power: computev1alpha1.PowerOn},
	}
	if _, err := server.Client.ComputeV1alpha1().Machines("storage-format").Create(ctx, machine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{server.EtcdEndpoint}, TLS: server.EtcdTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	key := apiserver.EtcdPathPrefix + "/compute.ferrite.dev/machines/storage-format/stored-as-protobuf"
	resp, err := etcd.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading %s: %v, %d values", key, err, len(resp.Kvs))
	}
	value := resp.Kvs[0].Value
	if !bytes.HasPrefix(value, []byte("k8s\x00")) {
		t.Fatalf("stored value is not protobuf: %q", value[:min(len(value), 40)])
	}

	codec := apiserver.StorageCodec()
	json := []byte(`{"apiVersion":"compute.ferrite.dev/v1alpha1","kind":"Machine","metadata":{"name":"old","namespace":"ns"},"spec":{"machineClassRef":{"name":"small"}}}`)
	for name, data := range map[string][]byte{"protobuf": value, "json": json} {
		obj, _, err := codec.Decode(data, nil, nil)
		if err != nil {
			t.Errorf("decoding a Machine stored as %s: %v", name, err)
			continue
		}
		if _, ok := obj.(metav1.Object); !ok {
			t.Errorf("decoding a Machine stored as %s gave %T", name, obj)
		}
	}
}
