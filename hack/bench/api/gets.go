package main

import (
	"context"
	"flag"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// getOptions are the flags of the GET phase.
var getOptions struct {
	count, clients int
	profile        string
	profileSeconds int
}

func getFlags() {
	flag.IntVar(&getOptions.count, "get-count", 5000, "GET phase: GETs of one Machine from the watch cache, the cheapest request through the whole handler chain (0: no phase)")
	flag.IntVar(&getOptions.clients, "get-clients", 16, "GET phase: concurrent clients")
	flag.StringVar(&getOptions.profile, "profile-get", "", "GET phase: write an apiserver CPU profile taken during the GETs to this file (the GETs then last at least -profile-seconds)")
}

// runGets GETs one Machine of namespace from the watch cache (resourceVersion 0) over and
// over: the handler is cheap, so the apiserver's CPU per GET is mostly the generic handler
// chain (TLS, HTTP/2, filters) and the encoding of one object.
func runGets(ctx context.Context, e *env, namespace string, profileSeconds int) (load.Result, error) {
	o := getOptions
	name := machineName(0)
	get := func(ctx context.Context, worker, _ int) error {
		_, err := e.protoCreators[worker%len(e.protoCreators)].ComputeV1alpha1().Machines(namespace).Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"})
		return err
	}
	if o.profile == "" {
		progress("GET: %d GETs of %s/%s from the watch cache, %d clients", o.count, namespace, name, o.clients)
		return load.Run(ctx, e.meter, o.count, o.clients, get), nil
	}
	progress("GET: GETs of %s/%s for a %d s profile, %d clients", namespace, name, profileSeconds, o.clients)
	done := make(chan error, 1)
	go func() { done <- e.apiserver.CPUProfile(ctx, profileSeconds, o.profile) }()
	var r load.Result
	for {
		r = load.Run(ctx, e.meter, o.count, o.clients, get)
		select {
		case err := <-done:
			if err != nil {
				return r, fmt.Errorf("GET profile: %w", err)
			}
			progress("GET profile written to %s", o.profile)
			return r, nil
		default:
		}
	}
}
