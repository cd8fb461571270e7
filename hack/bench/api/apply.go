package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// applyOptions are the flags of the server-side apply phase.
var applyOptions struct {
	count, clients int
}

func applyFlags() {
	flag.IntVar(&applyOptions.count, "apply-count", 2000, "server-side apply phase: Machines per row (0: no phase)")
	flag.IntVar(&applyOptions.clients, "apply-clients", 16, "server-side apply phase: concurrent clients")
}

// applyRow is one row of the server-side apply phase.
type applyRow struct {
	what   string
	result load.Result
	stored int // bytes of one Machine as etcd holds it afterwards, 0 if not read
}

// fieldManager is the field manager of the applies, as kubectl apply --server-side names itself.
const fieldManager = "bench-apply"

// manifest is m as a user writes it for kubectl apply: no status, no creation timestamp.
func manifest(m *computev1alpha1.Machine) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(m)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	delete(u["metadata"].(map[string]any), "creationTimestamp")
	return json.Marshal(u)
}

// runApply measures what a Machine costs the apiserver through server-side apply (PATCH with
// application/apply-patch+yaml and a field manager, as kubectl apply --server-side sends),
// against a plain create and update of the same Machines: creates, then changes of the
// image, then applies that change nothing.
func runApply(ctx context.Context, e *env) ([]applyRow, error) {
	o := applyOptions
	plainNS, applyNS := "apply-plain", "apply-ssa"
	created := make([]*computev1alpha1.Machine, o.count)
	var rows []applyRow
	row := func(what, namespace string, op func(ctx context.Context, worker, i int) error) error {
		progress("server-side apply: %s, %d Machines", what, o.count)
		r := load.Run(ctx, e.meter, o.count, o.clients, op)
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d of %d failed: %w", what, r.Errors, o.count, r.FirstErr)
		}
		stored, _, err := storedSample(ctx, e.etcd.Client, namespace)
		if err != nil {
			return err
		}
		rows = append(rows, applyRow{what: what, result: r, stored: len(stored)})
		return nil
	}
	client := func(worker int) versioned.Interface { return e.protoCreators[worker%len(e.protoCreators)] }
	apply := func(namespace, image string) func(ctx context.Context, worker, i int) error {
		return func(ctx context.Context, worker, i int) error {
			m := load.NewMachine(machineName(i))
			m.APIVersion, m.Kind = computev1alpha1.SchemeGroupVersion.String(), "Machine"
			m.Spec.Image = image
			body, err := manifest(m)
			if err != nil {
				return err
			}
			return client(worker).ComputeV1alpha1().RESTClient().Patch(types.ApplyPatchType).Namespace(namespace).
				Resource("machines").Name(m.Name).Param("fieldManager", fieldManager).Body(body).Do(ctx).Error()
		}
	}
	steps := []struct {
		what, namespace string
		op              func(ctx context.Context, worker, i int) error
	}{
		{"create (POST)", plainNS, func(ctx context.Context, worker, i int) error {
			m, err := client(worker).ComputeV1alpha1().Machines(plainNS).Create(ctx, load.NewMachine(machineName(i)), metav1.CreateOptions{})
			created[i] = m
			return err
		}},
		{"server-side apply, new Machine", applyNS, apply(applyNS, "ghcr.io/ferrite-dev/images/debian:12")},
		{"update (PUT), image changed", plainNS, func(ctx context.Context, worker, i int) error {
			m := created[i].DeepCopy()
			m.Spec.Image = "ghcr.io/ferrite-dev/images/debian:13"
			_, err := client(worker).ComputeV1alpha1().Machines(plainNS).Update(ctx, m, metav1.UpdateOptions{})
			return err
		}},
		{"server-side apply, image changed", applyNS, apply(applyNS, "ghcr.io/ferrite-dev/images/debian:13")},
		{"server-side apply, nothing changed", applyNS, apply(applyNS, "ghcr.io/ferrite-dev/images/debian:13")},
	}
	for _, s := range steps {
		if err := row(s.what, s.namespace, s.op); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
