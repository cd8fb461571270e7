package main

import (
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// env is the running system under test.
type env struct {
	etcd      *cluster.Etcd
	apiserver *cluster.APIServer
	meter     load.CPUMeter
	proto     versioned.Interface // the generated clientset as it comes: protobuf
	// protoCreators and jsonCreators are the clients of the create phases: one per
	// concurrent client, each on its own connection, or one shared (-shared-connection).
	protoCreators, jsonCreators []versioned.Interface
	json                        versioned.Interface // the generated clientset with JSON on the wire
	protoPlain                  versioned.Interface // protobuf without gzip-compressed responses
	jsonPlain                   versioned.Interface // JSON without gzip-compressed responses
	config                      *rest.Config        // the admin client configuration
}

func setup(o *options) (*env, func(), error) {
	dir := o.workDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bench-api-"); err != nil {
			return nil, nil, err
		}
	}
	cleanup := func() {
		if !o.keep {
			os.RemoveAll(dir)
		}
	}
	e := &env{}
	var extraEnv []string
	if apiserverEnv != "" {
		extraEnv = strings.Split(apiserverEnv, ",")
	}
	var err error
	var extraArgs []string
	if apiserverArgs != "" {
		extraArgs = strings.Split(apiserverArgs, " ")
	}
	if e.etcd, e.apiserver, err = cluster.StartSystem(o.etcdBin, o.apiserverBin, dir, extraEnv, extraArgs...); err != nil {
		cleanup()
		return nil, nil, err
	}
	stop := func() { e.apiserver.Stop(); e.etcd.Stop(); cleanup() }
	e.meter = load.CPUMeter{APIServerPID: e.apiserver.PID(), EtcdPID: e.etcd.PID()}
	config, err := e.apiserver.RESTConfig()
	if err != nil {
		stop()
		return nil, nil, err
	}
	if e.proto, err = versioned.NewForConfig(config); err == nil {
		jsonConfig := *config
		jsonConfig.ContentType = "application/json"
		plainConfig := *config
		plainConfig.DisableCompression = true
		if e.json, err = versioned.NewForConfig(&jsonConfig); err == nil {
			if e.protoPlain, err = versioned.NewForConfig(&plainConfig); err == nil {
				jsonPlainConfig := jsonConfig
				jsonPlainConfig.DisableCompression = true
				if e.jsonPlain, err = versioned.NewForConfig(&jsonPlainConfig); err == nil {
					e.config = config
				}
			}
		}
	}
	if err == nil {
		e.protoCreators, e.jsonCreators, err = creators(config, o)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return e, stop, nil
}

// creators returns the protobuf and JSON clients of the create phases.
func creators(config *rest.Config, o *options) (proto, json []versioned.Interface, err error) {
	n := 1
	if !o.sharedConnection {
		n = slices.Max(append(slices.Clone(o.clients), o.watchClients, fillClients))
	}
	for range n {
		c := config
		if !o.sharedConnection {
			c = load.OwnConnection(config)
		}
		p, err := versioned.NewForConfig(c)
		if err != nil {
			return nil, nil, err
		}
		jsonConfig := rest.CopyConfig(c)
		jsonConfig.ContentType = runtime.ContentTypeJSON
		j, err := versioned.NewForConfig(jsonConfig)
		if err != nil {
			return nil, nil, err
		}
		proto, json = append(proto, p), append(json, j)
	}
	return proto, json, nil
}

// fillClients is the concurrency of the creates that fill the store up to -stored.
const fillClients = 64

// rss reads the resident memory of the apiserver and etcd.
func rss(e *env) [2]int64 {
	a, _ := cluster.ResidentBytes(e.apiserver.PID())
	b, _ := cluster.ResidentBytes(e.etcd.PID())
	return [2]int64{a, b}
}

// format tells the encoding of a stored object.
func format(value []byte) string {
	switch {
	case strings.HasPrefix(string(value), "k8s\x00"):
		return "protobuf"
	case strings.HasPrefix(string(value), "{"):
		return "JSON"
	default:
		return "neither protobuf nor JSON"
	}
}
