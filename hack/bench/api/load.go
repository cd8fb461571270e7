package main

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// machineName is the name of the i-th Machine of a phase.
func machineName(i int) string { return fmt.Sprintf("machine-%06d", i) }

// createMachines creates n Machines named machineName(0..n-1) in namespace with the given
// number of concurrent clients; client w uses clients[w % len(clients)].
func createMachines(ctx context.Context, meter load.CPUMeter, clients []versioned.Interface, namespace string, n, workers int) load.Result {
	return load.Run(ctx, meter, n, workers, func(ctx context.Context, worker, i int) error {
		machines := clients[worker%len(clients)].ComputeV1alpha1().Machines(namespace)
		_, err := machines.Create(ctx, load.NewMachine(machineName(i)), metav1.CreateOptions{})
		return err
	})
}

// etcdCeiling performs n create-if-absent transactions of value under prefix, straight to
// etcd, as the apiserver's storage does for a create: put the key only if it does not exist.
func etcdCeiling(ctx context.Context, meter load.CPUMeter, etcd *clientv3.Client, prefix string, value []byte, n, workers int) load.Result {
	meter.APIServerPID = 0
	v := string(value)
	return load.Run(ctx, meter, n, workers, func(ctx context.Context, _, i int) error {
		key := prefix + machineName(i)
		resp, err := etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, v)).Commit()
		if err == nil && !resp.Succeeded {
			err = errors.New("key exists: " + key)
		}
		return err
	})
}
