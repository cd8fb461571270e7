// Package poollettest is what the poollets' integration tests share: a standalone apiserver for
// a test package, a fake runtime served on a unix socket, a poollet's manager run (and stopped as
// a killed process would be), an event recorder, unique names and polling. Only tests import it.
package poollettest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/runtimeconn"
)

// Timeout is how long WaitFor waits.
const Timeout = 20 * time.Second

// Main is a test package's TestMain: it starts a standalone apiserver in a new temporary folder
// (named after name), stores it in *server, runs the tests, stops the server and exits with the
// tests' code.
func Main(m *testing.M, name string, server **testserver.Server) {
	dir, err := os.MkdirTemp("", name)
	if err != nil {
		panic(err)
	}
	if *server, err = testserver.StartInDir(dir); err != nil {
		panic(err)
	}
	ctrllog.SetLogger(klog.Background())
	code := m.Run()
	(*server).Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ServeRuntime serves a runtime with serve (a fake's Serve) on a unix socket in a new short
// temporary folder (unix socket paths are limited to 108 bytes) and returns its endpoint,
// unix:///path, and the function that stops it; both the folder and the runtime go when t ends.
func ServeRuntime(t testing.TB, prefix string, serve func(path string) (stop func(), err error)) (endpoint string, stop func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "runtime.sock")
	stopServing, err := serve(socket)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(stopServing) }
	t.Cleanup(stop)
	return "unix://" + socket, stop
}

// Dial returns a client connection to the runtime at endpoint.
func Dial(t testing.TB, endpoint string) *grpc.ClientConn {
	t.Helper()
	conn, err := runtimeconn.Dial(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// ManagerOptions are the options of a poollet's manager in a test: no metrics or probes, and
// controller names that may repeat (several managers run in one process).
func ManagerOptions() manager.Options {
	skipNameValidation := true
	return manager.Options{
		Logger:                 klog.Background(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	}
}

// Start runs mgr and returns the function that stops it as killing the process would (nothing
// is cleaned up): the manager ends, then conn, the poollet's runtime connection, is closed. stop
// also runs when t ends.
func Start(t testing.TB, mgr manager.Manager, conn io.Closer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; conn.Close() }) }
	t.Cleanup(stop)
	return stop
}

// Recorder keeps the events a poollet records, as "namespace/name type reason: message".
type Recorder struct {
	mu     sync.Mutex
	events []string
}

// Eventf records an event (events.EventRecorder).
func (r *Recorder) Eventf(regarding runtime.Object, _ runtime.Object, eventtype, reason, _, note string, args ...interface{}) {
	name := ""
	if a, err := meta.Accessor(regarding); err == nil {
		name = a.GetNamespace() + "/" + a.GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s: %s", name, eventtype, reason, fmt.Sprintf(note, args...)))
}

// Events returns the recorded events, oldest first.
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// Has reports whether a recorded event starts with prefix.
func (r *Recorder) Has(prefix string) bool { return r.Count(prefix) > 0 }

// Count returns how many recorded events start with prefix.
func (r *Recorder) Count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

var runs atomic.Int32

// Unique returns base with a suffix unique in the process, so that -count=N reruns use new
// pools and namespaces on the shared server.
func Unique(base string) string {
	return fmt.Sprintf("%s-%d", base, runs.Add(1))
}

// WaitFor polls cond until it holds, and fails t after Timeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
