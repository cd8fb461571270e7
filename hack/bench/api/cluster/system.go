package cluster

import (
	"os"
	"path/filepath"
	"time"
)

// StartSystem starts etcd with its data under dir and a ferrite-apiserver on it with its data
// under dir/apiserver, the extra environment apiserverEnv (NAME=value) and the extra flags
// apiserverArgs, and waits until both answer. On failure it stops what it started.
func StartSystem(etcdBin, apiserverBin, dir string, apiserverEnv []string, apiserverArgs ...string) (*Etcd, *APIServer, error) {
	etcd, err := StartEtcd(etcdBin, dir)
	if err != nil {
		return nil, nil, err
	}
	apiserver, err := NewAPIServer(apiserverBin, filepath.Join(dir, "apiserver"), etcd.Endpoint, apiserverArgs...)
	if err == nil {
		apiserver.Env = apiserverEnv
		if err = os.MkdirAll(apiserver.DataDir, 0o755); err == nil {
			err = apiserver.Start(2 * time.Minute)
		}
	}
	if err != nil {
		if apiserver != nil {
			apiserver.Stop()
		}
		etcd.Stop()
		return nil, nil, err
	}
	return etcd, apiserver, nil
}
