package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// vniServer is a ferrite-apiserver that a VNI test starts with its own VNI options (a small
// range, a short quarantine, a fast repair pass); the shared server keeps the defaults.
type vniServer struct {
	options *apiserver.Options
	client  versioned.Interface
	stop    func()
}

// startVNIServer runs a server with its data in dir until the test ends or stop is called.
// configure changes the options, for example to use another server's etcd.
func startVNIServer(t *testing.T, dir string, configure func(*apiserver.Options)) *vniServer {
	t.Helper()
	port, err := standalone.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	options := apiserver.NewOptions()
	options.DataDir = dir
	options.Recommended.SecureServing.BindPort = port
	configure(options)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Read before Run, which writes the options it completes while this goroutine polls.
	serverURL := options.ServerURL()
	go func() { done <- options.Run(ctx) }()
	var once sync.Once
	s := &vniServer{options: options, stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Logf("apiserver in %s stopped with: %v", dir, err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("apiserver in %s did not stop within a minute", dir)
			}
		})
	}}
	t.Cleanup(s.stop)
	// The kubeconfig of an earlier run in dir names another port: read it until it works.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			return false, fmt.Errorf("apiserver exited before it was ready: %w", err)
		default:
		}
		config, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
		if err != nil || config.Host != serverURL {
			return false, nil
		}
		client, err := versioned.NewForConfig(config)
		if err != nil {
			return false, err
		}
		var code int
		client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		if code != http.StatusOK {
			return false, nil
		}
		s.client = client
		return true, nil
	})
	if err != nil {
		t.Fatalf("starting an apiserver in %s: %v", dir, err)
	}
	return s
}

// sharingEtcd returns a configure function that points a server at s's etcd.
func (s *vniServer) sharingEtcd(configure func(*apiserver.Options)) func(*apiserver.Options) {
	return func(o *apiserver.Options) {
		configure(o)
		o.Recommended.Etcd.StorageConfig.Transport = s.options.EtcdTransport()
	}
}

// etcd returns a client of the server's etcd and an allocator on its VNI claims, for tests that
// look at or plant claims.
func (s *vniServer) etcd(t *testing.T) *vni.Allocator {
	t.Helper()
	settings := s.options.EtcdTransport()
	config := clientv3.Config{Endpoints: settings.ServerList, DialTimeout: 10 * time.Second}
	if settings.CertFile != "" || settings.TrustedCAFile != "" {
		tlsInfo := transport.TLSInfo{CertFile: settings.CertFile, KeyFile: settings.KeyFile, TrustedCAFile: settings.TrustedCAFile}
		tlsConfig, err := tlsInfo.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		config.TLS = tlsConfig
	}
	client, err := clientv3.New(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return vni.NewAllocator(client, apiserver.EtcdPathPrefix+"/networking.ferrite.dev/vniclaims/", s.options.VNI)
}

// wantExhausted fails unless err is the 507 of an exhausted VNI range.
func wantExhausted(t *testing.T, err error) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != http.StatusInsufficientStorage {
		t.Fatalf("got %v, want 507 Insufficient Storage (no free VNI)", err)
	}
}
