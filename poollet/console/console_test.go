package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
)

var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-console-test-")
	if err != nil {
		panic(err)
	}
	if server, err = testserver.StartInDir(dir); err != nil {
		panic(err)
	}
	ctrllog.SetLogger(klog.Background())
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var runs atomic.Int32

// unique returns base with a suffix unique in the process (-count=N reruns).
func unique(base string) string { return fmt.Sprintf("%s-%d", base, runs.Add(1)) }

// output is a console's output as the client receives it.
type output struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.data.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.data.String()
}

func (o *output) waitFor(t *testing.T, text string) {
	t.Helper()
	if err := consoletest.WaitFor(func() bool { return strings.Contains(o.String(), text) }); err != nil {
		t.Fatalf("waiting for %q in the console output %q: %v", text, o.String(), err)
	}
}

// session opens a console session on the endpoint at url with the client certificate
// cert/key, as the apiserver does; it returns when the session ends.
func session(ctx context.Context, url, caFile, cert, key, namespace, name string, stdin io.Reader, stdout io.Writer) error {
	config := &rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{CAFile: caFile, CertFile: cert, KeyFile: key}}
	executor, err := remotecommand.NewWebSocketExecutor(config, http.MethodGet,
		fmt.Sprintf("%s/console/%s/%s?stdin=true&stdout=true&tty=true", url, namespace, name))
	if err != nil {
		return err
	}
	return executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: true})
}

// httpsClient is a client of the endpoint trusting caFile, with the client certificate
// cert/key when given.
func httpsClient(t *testing.T, caFile, cert, key string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	config := &tls.Config{RootCAs: roots}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: config}, Timeout: 10 * time.Second}
}

func get(client *http.Client, url string) (int, string, error) {
	response, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	return response.StatusCode, string(body), err
}

// A session with the apiserver's certificate starts with the scrollback, carries input to the
// guest (the fake echoes it) and the guest's output back, keeps the output flowing after the
// client's input ends, and ends with the runtime's console when the Machine is deleted.
func TestSession(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	ns := unique("session")
	pool := consoletest.StartPool(t, server.Config, ns, certs)
	m := pool.RunMachine(t, server.Client, ns, "vm")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdin, input := io.Pipe()
	out := &output{}
	done := make(chan error, 1)
	go func() {
		done <- session(ctx, pool.URL, certs.CA, certs.ClientCert, certs.ClientKey, ns, "vm", stdin, out)
	}()

	out.waitFor(t, "booting")
	if _, err := input.Write([]byte("echo me\r")); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "echo me")
	if err := pool.Runtime.WriteConsole(string(m.UID), []byte("login: ")); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "login: ")
	// The client's input ends (a pipe closed); the guest's output still arrives.
	input.Close()
	if err := pool.Runtime.WriteConsole(string(m.UID), []byte("after the input")); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "after the input")

	// Deleting the Machine deletes the runtime machine, which ends its console.
	if err := server.Client.ComputeV1alpha1().Machines(ns).Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed by the machine runtime") {
			t.Fatalf("session after the machine's deletion ended with %v, want the runtime's close", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not end after the machine was deleted")
	}
}

// The client leaving (Ctrl-] in the plugin cancels the session) ends the session on the
// poollet, and another session can attach.
func TestLeaveAndReattach(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	ns := unique("leave")
	pool := consoletest.StartPool(t, server.Config, ns, certs)
	pool.RunMachine(t, server.Client, ns, "vm")
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		stdin, input := io.Pipe()
		out := &output{}
		done := make(chan error, 1)
		go func() {
			done <- session(ctx, pool.URL, certs.CA, certs.ClientCert, certs.ClientKey, ns, "vm", stdin, out)
		}()
		out.waitFor(t, "booting")
		line := fmt.Sprintf("round %d", i)
		input.Write([]byte(line))
		out.waitFor(t, line)
		cancel()
		if err := <-done; err == nil {
			t.Fatalf("a cancelled session returned no error")
		}
		input.Close()
	}
}

// Logs mode returns the scrollback, all of it or its last tailBytes.
func TestLogs(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	ns := unique("logs")
	pool := consoletest.StartPool(t, server.Config, ns, certs)
	m := pool.RunMachine(t, server.Client, ns, "vm")
	if err := pool.Runtime.WriteConsole(string(m.UID), []byte("last words")); err != nil {
		t.Fatal(err)
	}
	client := httpsClient(t, certs.CA, certs.ClientCert, certs.ClientKey)
	code, body, err := get(client, pool.URL+"/console/"+ns+"/vm?logs=true")
	if err != nil || code != http.StatusOK || !strings.Contains(body, "booting") || !strings.HasSuffix(body, "last words") {
		t.Fatalf("logs: %d %q %v", code, body, err)
	}
	code, body, err = get(client, pool.URL+"/console/"+ns+"/vm?logs=true&tailBytes=5")
	if err != nil || code != http.StatusOK || body != "words" {
		t.Fatalf("logs with tailBytes=5: %d %q %v, want \"words\"", code, body, err)
	}
	// A session needs the WebSocket upgrade.
	if code, body, err = get(client, pool.URL+"/console/"+ns+"/vm?stdout=true"); code != http.StatusBadRequest || !strings.Contains(body, "v5.channel.k8s.io") {
		t.Fatalf("a plain GET without logs=true: %d %q %v, want 400", code, body, err)
	}
	// Another UID than the Machine's: the Machine was replaced since the apiserver looked.
	if code, _, err = get(client, pool.URL+"/console/"+ns+"/vm?logs=true&uid=00000000-0000-4000-8000-000000000000"); code != http.StatusNotFound {
		t.Fatalf("logs of another UID: %d %v, want 404", code, err)
	}
}

// Without a client certificate, or with one of another CA, the endpoint refuses the
// connection; with --console-allowed-names, a certificate of another name gets 403; a Machine
// that is not on the pool is 404.
func TestRefused(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	other := consoletest.NewPKI(t, t.TempDir())
	ns, otherNS := unique("refused"), unique("refused-other")
	pool := consoletest.StartPool(t, server.Config, ns, certs)
	otherPool := consoletest.StartPool(t, server.Config, otherNS, certs)
	pool.RunMachine(t, server.Client, ns, "vm")
	otherPool.RunMachine(t, server.Client, ns, "elsewhere")
	url := pool.URL + "/console/" + ns + "/vm?logs=true"

	if _, _, err := get(httpsClient(t, certs.CA, "", ""), url); err == nil {
		t.Error("a request without a client certificate was served")
	}
	if _, _, err := get(httpsClient(t, certs.CA, other.ClientCert, other.ClientKey), url); err == nil {
		t.Error("a request with a client certificate of another CA was served")
	}
	err := session(context.Background(), pool.URL, certs.CA, other.ClientCert, other.ClientKey, ns, "vm", strings.NewReader(""), io.Discard)
	if err == nil {
		t.Error("a session with a client certificate of another CA was served")
	}
	// The client verifies the poollet too: a poollet certificate of another CA is refused.
	if _, _, err := get(httpsClient(t, other.CA, certs.ClientCert, certs.ClientKey), url); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a poollet certificate of an unknown CA: %v, want a certificate error", err)
	}

	client := httpsClient(t, certs.CA, certs.ClientCert, certs.ClientKey)
	for _, path := range []string{"/console/" + ns + "/elsewhere?logs=true", "/console/" + ns + "/missing?logs=true"} {
		if code, body, err := get(client, pool.URL+path); code != http.StatusNotFound || !strings.Contains(body, "is not on machine pool "+ns) {
			t.Errorf("%s: %d %q %v, want 404", path, code, body, err)
		}
	}
	err = session(context.Background(), pool.URL, certs.CA, certs.ClientCert, certs.ClientKey, ns, "elsewhere", strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not on machine pool") {
		t.Errorf("a session on another pool's machine: %v, want 404", err)
	}

	restricted := consoletest.StartPool(t, server.Config, unique("restricted"), certs, "someone-else")
	restricted.RunMachine(t, server.Client, ns, "locked")
	if code, body, err := get(client, restricted.URL+"/console/"+ns+"/locked?logs=true"); code != http.StatusForbidden || !strings.Contains(body, "--console-allowed-names") {
		t.Errorf("a client not in --console-allowed-names: %d %q %v, want 403", code, body, err)
	}
	allowed := consoletest.StartPool(t, server.Config, unique("allowed"), certs, consoletest.ClientName)
	allowed.RunMachine(t, server.Client, ns, "open")
	if code, _, err := get(client, allowed.URL+"/console/"+ns+"/open?logs=true"); code != http.StatusOK {
		t.Errorf("a client in --console-allowed-names: %d %v, want 200", code, err)
	}
}
