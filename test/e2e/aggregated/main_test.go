//go:build e2e

// Package aggregated tests Ferrite behind a real kube-apiserver and kube-controller-manager:
// discovery, CRUD and watch through the aggregator, RBAC (Ferrite's own roles and the built-in
// edit and view they aggregate into), namespace lifecycle and deletion, ownerReference garbage
// collection, Secret references, and a restart of ferrite-apiserver while kube-apiserver keeps
// serving. `make e2e-aggregated` builds the binaries and runs it.
package aggregated

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../../..")
	for _, binary := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "ferrite-apiserver"} {
		if _, err := os.Stat(filepath.Join(root, "bin", binary)); err != nil {
			fmt.Fprintf(os.Stderr, "bin/%s is missing: run `make e2e-aggregated`, which builds it\n", binary)
			os.Exit(1)
		}
	}
	dir, err := os.MkdirTemp("", "ferrite-e2e-aggregated-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		DataDir: dir, BinDir: filepath.Join(root, "bin"),
		RBACFile: filepath.Join(root, "config", "rbac", "roles.yaml"), Progress: os.Stderr,
	})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane: %v (logs in %s/logs)\n", err, dir)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Stop()
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s/logs\n", dir)
	}
	os.Exit(code)
}
