//go:build e2e

package aggregated

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
)

// consoleOutput collects a session's output.
type consoleOutput struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (o *consoleOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.data.Write(p)
}

func (o *consoleOutput) contains(s string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Contains(o.data.String(), s)
}

func consolePath(namespace, name, query string) string {
	return fmt.Sprintf("/apis/compute.ferrite.dev/v1alpha1/namespaces/%s/machines/%s/console?%s", namespace, name, query)
}

// consoleSession attaches to namespace/name through kube-apiserver as config's user.
func consoleSession(ctx context.Context, config *rest.Config, namespace, name string, stdin io.Reader, stdout io.Writer) error {
	executor, err := remotecommand.NewWebSocketExecutor(config, http.MethodGet, config.Host+consolePath(namespace, name, "stdin=true&stdout=true&tty=true"))
	if err != nil {
		return err
	}
	return executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: true})
}

// sessionStatus is the HTTP status with which a session was refused, 0 for another error.
func sessionStatus(err error) int32 {
	var upgrade *httpstream.UpgradeFailureError
	var status *apierrors.StatusError
	if errors.As(err, &upgrade) && errors.As(upgrade.Cause, &status) {
		return status.Status().Code
	}
	return 0
}

// TestMachineConsoleThroughTheAggregator attaches to a Machine's console through kube-apiserver,
// its aggregator and ferrite-apiserver (with the poollet certificates localcluster issues) to
// a machinepoollet's console endpoint over the fake runtime: a tenant bound to edit streams
// (scrollback, echo) and reads the scrollback; one bound to view gets 403 for both.
func TestMachineConsoleThroughTheAggregator(t *testing.T) {
	ctx := testContext(t)
	kube, admin := clients(t, cluster.Config)
	const ns = "tenant-console"
	createNamespace(t, kube, ns)
	const editor, viewer = "console-editor", "console-viewer"
	bindClusterRole(t, ns, "edit", editor)
	bindClusterRole(t, ns, "view", viewer)
	certs := &consoletest.PKI{CA: cluster.Poollet.CA, ServingCert: cluster.Poollet.ServingCert, ServingKey: cluster.Poollet.ServingKey,
		ClientCert: cluster.Poollet.ClientCert, ClientKey: cluster.Poollet.ClientKey}
	pool := consoletest.StartPool(t, cluster.Config, "console-e2e", certs, localcluster.PoolletClientName)
	pool.RunMachine(t, admin, ns, "vm")

	// The session, as the editor (RBAC bindings take a moment).
	out := &consoleOutput{}
	stdin, input := io.Pipe()
	defer input.Close()
	sessionCtx, leave := context.WithCancel(ctx)
	defer leave()
	done := make(chan error, 1)
	if err := eventually(ctx, 30*time.Second, func(context.Context) error {
		go func() { done <- consoleSession(sessionCtx, impersonating(editor), ns, "vm", stdin, out) }()
		deadline := time.After(10 * time.Second)
		for !out.contains("booting") {
			select {
			case err := <-done:
				return fmt.Errorf("the session ended: %w", err)
			case <-deadline:
				return errors.New("no scrollback")
			case <-time.After(50 * time.Millisecond):
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("editor's session: %v", err)
	}
	input.Write([]byte("through kube-apiserver"))
	if err := consoletest.WaitFor(func() bool { return out.contains("through kube-apiserver") }); err != nil {
		t.Fatalf("the echo of the editor's input: %v", err)
	}
	leave()
	<-done

	logs := func(user string) (int, string) {
		client, err := rest.HTTPClientFor(impersonating(user))
		if err != nil {
			t.Fatal(err)
		}
		response, err := client.Get(cluster.Config.Host + consolePath(ns, "vm", "logs=true"))
		if err != nil {
			t.Fatal(err)
		}
		defer response.Body.Close()
		body, _ := io.ReadAll(response.Body)
		return response.StatusCode, string(body)
	}
	if code, body := logs(editor); code != http.StatusOK || !strings.Contains(body, "through kube-apiserver") {
		t.Errorf("editor's logs: %d %q", code, body)
	}
	if code, body := logs(viewer); code != http.StatusForbidden {
		t.Errorf("viewer's logs: %d %q, want 403", code, body)
	}
	err := consoleSession(ctx, impersonating(viewer), ns, "vm", strings.NewReader(""), io.Discard)
	if sessionStatus(err) != http.StatusForbidden {
		t.Errorf("viewer's session: %v, want 403", err)
	}
}
