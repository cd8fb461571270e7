package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.EnsureCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Ensure("serving", pki.Spec{CommonName: "console", Server: true, DNSNames: []string{"console.example"}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caPEM, _ := os.ReadFile(ca.CertFile)
	// The kubeconfig's credentials must never be taken: only its server and CA (relative to it).
	kubeconfig := write("kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://api.example:6443", certificate-authority: ca.crt, tls-server-name: api}}]
users: [{name: u, user: {token: console-must-not-use, client-certificate: /etc/admin.crt}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`)
	insecure := write("insecure", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://api.example:6443", insecure-skip-tls-verify: true}}]
contexts: [{name: ctx, context: {cluster: c}}]
current-context: ctx
`)
	notPEM := write("not-pem", "hello")

	o, err := parseOptions([]string{"--kubeconfig", kubeconfig}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.bindAddress != "127.0.0.1:8090" || o.api.Host != "https://api.example:6443" || !bytes.Equal(o.api.CAData, caPEM) || o.api.ServerName != "api" {
		t.Errorf("from the kubeconfig: bind %s, API %+v", o.bindAddress, o.api)
	}
	if o.api.BearerToken != "" || o.api.CertFile != "" || len(o.api.CertData) > 0 {
		t.Errorf("the console took the kubeconfig's credentials: %+v", o.api)
	}
	o, err = parseOptions([]string{"--api-server", "https://10.0.0.1:6443", "--api-ca-file", ca.CertFile, "--bind-address", "0.0.0.0:8443",
		"--tls-cert-file", serving.CertFile, "--tls-private-key-file", serving.KeyFile}, io.Discard)
	if err != nil || o.tlsCertificate == nil || o.api.Host != "https://10.0.0.1:6443" {
		t.Errorf("HTTPS on all addresses: %v", err)
	}
	for _, address := range []string{"localhost:8090", "[::1]:0", "127.0.0.2:80"} {
		if _, err := parseOptions([]string{"--api-server", "https://a", "--bind-address", address}, io.Discard); err != nil {
			t.Errorf("loopback %s without TLS: %v", address, err)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--api-server", "https://a", "--bind-address", "0.0.0.0:8090"}, "is not a loopback address: serving beyond loopback needs HTTPS"},
		{[]string{"--api-server", "https://a", "--bind-address", ":8090"}, "is not a loopback address"},
		{[]string{"--api-server", "https://a", "--bind-address", "192.168.1.1:8090"}, "is not a loopback address"},
		{[]string{"--api-server", "https://a", "--bind-address", "8090"}, "--bind-address"},
		{[]string{"--api-server", "https://a", "--tls-cert-file", serving.CertFile}, "go together"},
		{[]string{"--api-server", "https://a", "--tls-cert-file", serving.CertFile, "--tls-private-key-file", ca.KeyFile}, "--tls-cert-file and --tls-private-key-file"},
		{[]string{"--api-server", "http://a:8080"}, "want an https:// URL"},
		{[]string{"--api-server", "https://a", "--api-ca-file", notPEM}, "no PEM certificate"},
		{[]string{"--api-server", "https://a", "--api-ca-file", filepath.Join(dir, "missing")}, "--api-ca-file"},
		{[]string{"--api-server", "https://a", "--kubeconfig", kubeconfig}, "not both"},
		{[]string{"--kubeconfig", kubeconfig, "--api-ca-file", ca.CertFile}, "--api-ca-file goes with --api-server"},
		{[]string{"--kubeconfig", insecure}, "insecure-skip-tls-verify"},
		{[]string{}, "--api-server (with --api-ca-file) or --kubeconfig is required"},
		{[]string{"--api-server", "https://a", "extra"}, "unexpected arguments"},
	} {
		_, err := parseOptions(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// syncBuffer is the log, written by the server while the test reads it.
type syncBuffer struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.String()
}

// The binary serves on its bind address, logs its URL and stops on its context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--api-server", "https://127.0.0.1:1", "--bind-address", "127.0.0.1:0"}, log)
	}()
	urlPattern := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlPattern.FindStringSubmatch(log.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL logged: %s", log)
		}
	}
	response, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusOK || response.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /: %d %v", response.StatusCode, response.Header)
	}
	response, err = http.Get(url + "auth/session")
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /auth/session without a cookie: %d", response.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
