//go:build e2e

package ha

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// system is the control plane under test.
type system struct {
	etcd  *cluster.EtcdCluster
	local *localcluster.Cluster
	dir   string
}

// binaries are what the test runs, from bin/ of the repository.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "ferrite-apiserver"}

// startSystem starts the etcd cluster and the control plane in a temporary directory. Every
// process and the directory are removed when the test ends, also when it fails or is
// interrupted (SIGINT, SIGTERM); on failure the ends of the logs are printed first, and with
// FERRITE_E2E_KEEP=1 the directory is kept.
func startSystem(t *testing.T, replicas int) *system {
	root, _ := filepath.Abs("../../..")
	dir, err := os.MkdirTemp("", "ferrite-e2e-ha-")
	if err != nil {
		t.Fatal(err)
	}
	s := &system{dir: dir}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if s.local != nil {
				s.local.Stop()
			}
			if s.etcd != nil {
				s.etcd.Stop()
			}
			if os.Getenv("FERRITE_E2E_KEEP") == "1" {
				fmt.Fprintf(os.Stderr, "kept %s\n", dir)
				return
			}
			os.RemoveAll(dir)
		})
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			fmt.Fprintf(os.Stderr, "%v: stopping the control plane\n", sig)
			stop()
			os.Exit(1)
		case <-done:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(signals)
		close(done)
		if t.Failed() {
			s.printLogs(t)
		}
		stop()
	})

	// A bin directory without ferrite-controller-manager: no controller touches the objects.
	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range binaries {
		target := filepath.Join(root, "bin", name)
		if _, err := os.Stat(target); err != nil {
			t.Fatalf("bin/%s is missing: run `make e2e-ha`, which builds it", name)
		}
		if err := os.Symlink(target, filepath.Join(binDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if s.etcd, err = cluster.StartEtcdCluster(filepath.Join(binDir, "etcd"), filepath.Join(dir, "etcd"), 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd: 3 members with TLS up after %s: %s", time.Since(start).Round(time.Millisecond), strings.Join(s.etcd.Endpoints, ", "))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s.local, err = localcluster.Start(ctx, localcluster.Options{
		DataDir: filepath.Join(dir, "cluster"), BinDir: binDir, Progress: testWriter{t},
		FerriteEtcd: &localcluster.ExternalEtcd{Servers: s.etcd.Endpoints, CAFile: s.etcd.CAFile,
			CertFile: s.etcd.ClientCert, KeyFile: s.etcd.ClientKey},
		FerriteReplicas: replicas,
	})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Logf("control plane up after %s", time.Since(start).Round(time.Millisecond))
	return s
}

// testWriter sends the control plane's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// printLogs prints the last lines of every log of the system.
func (s *system) printLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(s.dir, "cluster", "logs", "*.log"))
	etcdLogs, _ := filepath.Glob(filepath.Join(s.dir, "etcd", "*.log"))
	for _, path := range append(logs, etcdLogs...) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		t.Logf("--- end of %s\n%s", path, strings.Join(lines, "\n"))
	}
}
