// Package testserver starts a real ferrite-apiserver in the test process, on an embedded etcd
// in a temporary directory, for integration tests that use the generated clientset.
package testserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/pki"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// Server is a running in-process ferrite-apiserver.
type Server struct {
	// Config is an admin client configuration for the server.
	Config *rest.Config
	// Client is an admin clientset.
	Client versioned.Interface
	// DataDir holds the embedded etcd, certificates and kubeconfig.
	DataDir string
	// EtcdEndpoint is the client URL of the embedded etcd, and EtcdTLS the TLS configuration
	// (with a client certificate) it requires.
	EtcdEndpoint string
	EtcdTLS      *tls.Config

	cancel context.CancelFunc
	done   chan error
}

// Start runs a server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with options changed by configure (flags beyond the defaults).
func StartWith(t testing.TB, configure func(*apiserver.Options)) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "ferrite-test-")
	if err != nil {
		t.Fatal(err)
	}
	server, err := StartInDirWith(dir, configure)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Stop()
		os.RemoveAll(dir)
	})
	return server
}

// StartInDir runs a server with its data in dir (kept across restarts in the same dir) until
// Stop is called. It returns once the server is ready.
func StartInDir(dir string) (*Server, error) {
	return StartInDirWith(dir, nil)
}

// StartInDirWith is StartInDir with options changed by configure, when it is not nil.
//
// A free port can be taken by another process between FreePort and the server's listen (tests
// run in parallel packages), so a start that fails with "address already in use" is tried
// again on another port.
func StartInDirWith(dir string, configure func(*apiserver.Options)) (*Server, error) {
	for attempt := 1; ; attempt++ {
		s, err := startOnce(dir, configure)
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

// startOnce starts the server on a port found free and waits until it is ready.
func startOnce(dir string, configure func(*apiserver.Options)) (*Server, error) {
	port, err := standalone.FreePort()
	if err != nil {
		return nil, err
	}
	options := apiserver.NewOptions()
	options.DataDir = dir
	options.Recommended.SecureServing.BindPort = port
	if configure != nil {
		configure(options)
	}
	// Tests do not need audit or tracing noise; everything else is as in production.
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DataDir: dir, cancel: cancel, done: make(chan error, 1)}
	// Read before Run, which writes the options it completes while this goroutine polls.
	serverURL := options.ServerURL()
	go func() { s.done <- options.Run(ctx) }()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-s.done:
			return false, fmt.Errorf("apiserver exited before it was ready: %w", err)
		default:
		}
		if s.Config == nil {
			// The kubeconfig of an earlier run in dir names another port: read it until it
			// names this one.
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil || config.Host != serverURL {
				return false, nil
			}
			config.QPS, config.Burst = 1000, 2000
			s.Config = config
		}
		return ready(ctx, s.Config), nil
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if s.Client, err = versioned.NewForConfig(s.Config); err != nil {
		cancel()
		return nil, err
	}
	s.EtcdEndpoint = options.EtcdTransport().ServerList[0]
	certs, err := standalone.EnsurePKI(filepath.Join(dir, "pki"))
	if err == nil {
		s.EtcdTLS, err = certs.Etcd.ClientTLS()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

func ready(ctx context.Context, config *rest.Config) bool {
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		return false
	}
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, config.Host+"/readyz", nil)
	response, err := client.Do(request)
	if err != nil {
		return false
	}
	response.Body.Close()
	return response.StatusCode == http.StatusOK
}

// Stop shuts the server and its etcd down and waits for them.
func (s *Server) Stop() {
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "testserver: apiserver stopped with: %v\n", err)
		}
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "testserver: apiserver did not stop within a minute")
	}
}

// UserCert issues (or finds, when issued before) a client certificate of the server's CA for
// user, which the server authenticates as that user; standalone, it authorizes only its admin.
// It returns the CA and the certificate's files.
func (s *Server) UserCert(t testing.TB, user string) (*pki.CA, pki.Pair) {
	t.Helper()
	ca, err := pki.EnsureCA(filepath.Join(s.DataDir, "pki"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Ensure(user, pki.Spec{CommonName: user, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	return ca, pair
}
