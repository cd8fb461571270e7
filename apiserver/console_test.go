package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
)

// Users of the console test server, authorized by its SubjectAccessReview webhook.
const (
	consoleUser   = "console-user"   // everything
	consoleReader = "console-reader" // everything but create on machines/console
)

// authorizationWebhook answers SubjectAccessReviews as a kube-apiserver with RBAC would for the
// two users, and records the reviews of machines/console.
func authorizationWebhook(t *testing.T) (kubeconfig string, reviews func() []string) {
	var mu sync.Mutex
	var seen []string
	webhook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review := &authorizationv1.SubjectAccessReview{}
		if err := json.NewDecoder(r.Body).Decode(review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		attributes := review.Spec.ResourceAttributes
		console := attributes != nil && attributes.Resource == "machines" && attributes.Subresource == "console"
		allowed := review.Spec.User == consoleUser || (review.Spec.User == consoleReader && !(console && attributes.Verb == "create"))
		if console {
			mu.Lock()
			seen = append(seen, review.Spec.User+" "+attributes.Verb)
			mu.Unlock()
		}
		review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}
		if !allowed {
			review.Status.Reason = "not granted by the test's webhook"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(review)
	}))
	t.Cleanup(webhook.Close)
	config := clientcmdapi.NewConfig()
	config.Clusters["webhook"] = &clientcmdapi.Cluster{Server: webhook.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: webhook.Certificate().Raw})}
	config.AuthInfos["apiserver"] = &clientcmdapi.AuthInfo{Token: "unused"}
	config.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "webhook", AuthInfo: "apiserver"}
	config.CurrentContext = "webhook"
	kubeconfig = filepath.Join(t.TempDir(), "authorization.kubeconfig")
	if err := clientcmd.WriteToFile(*config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// userConfig is the server's client configuration with a client certificate of its CA for user.
func userConfig(t *testing.T, s *testserver.Server, user string) *rest.Config {
	t.Helper()
	_, pair := s.UserCert(t, user)
	config := rest.CopyConfig(s.Config)
	config.TLSClientConfig.CertData, config.TLSClientConfig.KeyData = nil, nil
	config.TLSClientConfig.CertFile, config.TLSClientConfig.KeyFile = pair.CertFile, pair.KeyFile
	return config
}

// consoleURL is the machines/console URL of namespace/name on the server of config.
func consoleURL(config *rest.Config, namespace, name, query string) string {
	return fmt.Sprintf("%s/apis/compute.ferrite.dev/v1alpha1/namespaces/%s/machines/%s/console?%s", config.Host, namespace, name, query)
}

// attach runs a console session through the apiserver until ctx ends or the session does.
func attach(ctx context.Context, config *rest.Config, namespace, name string, stdin io.Reader, stdout io.Writer) error {
	executor, err := remotecommand.NewWebSocketExecutor(config, http.MethodGet, consoleURL(config, namespace, name, "stdin=true&stdout=true&tty=true"))
	if err != nil {
		return err
	}
	return executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: true})
}

// consoleLogs reads the scrollback through the apiserver.
func consoleLogs(t *testing.T, config *rest.Config, namespace, name, query string) (int, string) {
	t.Helper()
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		t.Fatal(err)
	}
	response, err := client.Get(consoleURL(config, namespace, name, "logs=true&"+query))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return response.StatusCode, string(body)
}

// syncBuffer is a console's output as the client receives it.
type syncBuffer struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.Write(p)
}

func (b *syncBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.data.String(), s)
}

// TestMachineConsole runs machines/console on a server with the poollet flags, against a real
// machinepoollet console endpoint over the fake runtime: a session streams through (output,
// echo of the input) for a user allowed to create machines/console; a user with only get is
// refused a session (403: the WebSocket GET is checked for create) but reads the scrollback;
// an unbound Machine is 409 and a pool without a console endpoint 503.
func TestMachineConsole(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	webhook, reviews := authorizationWebhook(t)
	dir, err := os.MkdirTemp("", "ferrite-console-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := testserver.StartInDirWith(dir, func(o *apiserver.Options) {
		o.Poollet = apiserver.PoolletOptions{ClientCert: certs.ClientCert, ClientKey: certs.ClientKey, CA: certs.CA}
		o.Recommended.Authorization.RemoteKubeConfigFile = webhook
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	const ns = "console"
	pool := consoletest.StartPool(t, s.Config, "console-pool", certs)
	pool.RunMachine(t, s.Client, ns, "vm")
	user, reader := userConfig(t, s, consoleUser), userConfig(t, s, consoleReader)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdin, input := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- attach(ctx, user, ns, "vm", stdin, out) }()
	if err := consoletest.WaitFor(func() bool { return out.contains("booting") || len(done) > 0 }); err != nil || len(done) > 0 {
		t.Fatalf("the session's scrollback: %v, the session ended with %v", err, <-done)
	}
	input.Write([]byte("through the apiserver"))
	if err := consoletest.WaitFor(func() bool { return out.contains("through the apiserver") }); err != nil {
		t.Fatalf("the echo of the input: %v", err)
	}
	cancel()
	<-done

	err = attach(context.Background(), reader, ns, "vm", strings.NewReader(""), io.Discard)
	if code := upgradeStatus(err); code != http.StatusForbidden || !strings.Contains(err.Error(), "create on machines/console") {
		t.Errorf("a session of a user without create on machines/console: %v, want 403", err)
	}
	if got := reviews(); !contains(got, consoleReader+" create") || !contains(got, consoleUser+" create") {
		t.Errorf("machines/console reviews %v, want create checked for both users", got)
	}
	if code, body := consoleLogs(t, reader, ns, "vm", ""); code != http.StatusOK || !strings.Contains(body, "through the apiserver") {
		t.Errorf("logs of a user with get: %d %q", code, body)
	}
	if code, body := consoleLogs(t, user, ns, "vm", "tailBytes=7"); code != http.StatusOK || body != "iserver" {
		t.Errorf("logs with tailBytes=7: %d %q", code, body)
	}

	// An unbound Machine; a pool whose poollet publishes no console endpoint.
	machines := s.Client.ComputeV1alpha1().Machines(ns)
	if _, err := machines.Create(testContext(t), &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: consoletest.ClassName}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, body := consoleLogs(t, user, ns, "pending", ""); code != http.StatusConflict || !strings.Contains(body, "not scheduled") {
		t.Errorf("logs of an unbound machine: %d %q, want 409", code, body)
	}
	if _, err := s.Client.ComputeV1alpha1().MachinePools().Create(testContext(t), &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "no-console"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := machines.Bind(testContext(t), "pending", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: "no-console"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, body := consoleLogs(t, user, ns, "pending", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "publishes no console endpoint") {
		t.Errorf("logs on a pool without a console endpoint: %d %q, want 503", code, body)
	}
	if code, body := consoleLogs(t, user, ns, "missing", ""); code != http.StatusNotFound {
		t.Errorf("logs of a missing machine: %d %q, want 404", code, body)
	}
}

// Without the poollet flags, machines/console answers 503 saying which flags it needs.
func TestMachineConsoleNotConfigured(t *testing.T) {
	code, body := consoleLogs(t, server.Config, "console-off", "vm", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "--poollet-client-certificate") {
		t.Errorf("machines/console without the poollet flags: %d %q, want 503", code, body)
	}
	err := attach(context.Background(), server.Config, "console-off", "vm", strings.NewReader(""), io.Discard)
	if upgradeStatus(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "--poollet-client-certificate") {
		t.Errorf("a session without the poollet flags: %v, want 503", err)
	}
}

// upgradeStatus is the HTTP status with which the apiserver refused a session, 0 for another error.
func upgradeStatus(err error) int32 {
	var upgrade *httpstream.UpgradeFailureError
	var status *apierrors.StatusError
	if errors.As(err, &upgrade) && errors.As(upgrade.Cause, &status) {
		return status.Status().Code
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
