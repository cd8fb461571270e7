package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// largeListOptions are the flags of the large LIST phase.
var largeListOptions struct {
	count, runs, writers int
}

func largeListFlags() {
	o := &largeListOptions
	flag.IntVar(&o.count, "list-large", 50000, "large LIST phase: Machines of the namespace listed, written straight into etcd (0: no phase)")
	flag.IntVar(&o.runs, "list-large-runs", 3, "large LIST phase: LISTs per row")
	flag.IntVar(&o.writers, "list-large-writers", 32, "large LIST phase: concurrent etcd writers filling the namespace")
}

// largeListNamespace is where the large LIST phase keeps its Machines.
func largeListNamespace(n int) string { return "list-" + strconv.Itoa(n) }

// runLargeList stores largeListOptions.count Machines in a namespace of their own, straight
// into etcd in the apiserver's stored form (copies of sample with their own names and UIDs,
// much faster than as many creates), waits until the watch cache has them, and lists them
// from the watch cache.
func runLargeList(ctx context.Context, e *env, sample []byte) ([]listRow, error) {
	o := largeListOptions
	writer, err := newStoredWriter(e.etcd.Client, sample)
	if err != nil {
		return nil, err
	}
	namespace := largeListNamespace(o.count)
	progress("large LIST: %d Machines into %s, straight into etcd", o.count, namespace)
	r := writer.write(ctx, load.CPUMeter{}, namespace, o.count, 0, o.writers, 0, func(int) string { return "" })
	if r.Errors > 0 {
		return nil, fmt.Errorf("%d of %d etcd writes failed: %w", r.Errors, o.count, r.FirstErr)
	}
	rev, err := writer.revision(ctx)
	if err != nil {
		return nil, err
	}
	if err := waitForCache(ctx, e, namespace, rev); err != nil {
		return nil, err
	}
	var rows []listRow
	for _, variant := range []struct {
		name   string
		client versioned.Interface
		raw    bool
		accept string
	}{
		{"protobuf", e.proto, false, ""},
		{"protobuf, no gzip, not decoded", e.protoPlain, true, runtime.ContentTypeProtobuf},
		{"json", e.json, false, ""},
		{"json, no gzip, not decoded", e.jsonPlain, true, runtime.ContentTypeJSON},
	} {
		progress("large LIST %s, resourceVersion=\"0\", %s", namespace, variant.name)
		times, items, cpu, err := listTimes(ctx, e.meter, variant.client, namespace, "0", o.runs, variant.raw, variant.accept)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", namespace, err)
		}
		rows = append(rows, listRow{"0", variant.name, items, times, cpu})
	}
	return rows, nil
}
