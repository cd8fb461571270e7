package main

import (
	"os"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// env is the running system under test, shared by the phases that do not start their own
// (its fields are nil when every phase selected does).
type env struct {
	// opts are the flags.
	opts      *options
	etcd      *cluster.Etcd
	apiserver *cluster.APIServer
	meter     load.CPUMeter
	// config is the admin client configuration (protobuf, no client-side rate limit); client
	// is a clientset on it.
	config *rest.Config
	client versioned.Interface
}

// setup starts etcd and ferrite-apiserver into e and returns the function that stops them.
func setup(o *options, e *env) (func(), error) {
	dir := o.workDir
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "bench-machines-")
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		if !o.keep {
			os.RemoveAll(dir)
		}
	}
	if e.etcd, e.apiserver, err = cluster.StartSystem(o.etcdBin, o.apiserverBin, dir, nil); err != nil {
		cleanup()
		return nil, err
	}
	stop := func() { e.apiserver.Stop(); e.etcd.Stop(); cleanup() }
	e.meter = load.CPUMeter{APIServerPID: e.apiserver.PID(), EtcdPID: e.etcd.PID()}
	if e.config, err = e.apiserver.RESTConfig(); err == nil {
		e.client, err = versioned.NewForConfig(e.config)
	}
	if err != nil {
		stop()
		return nil, err
	}
	progress("etcd and ferrite-apiserver running under %s", dir)
	return stop, nil
}
