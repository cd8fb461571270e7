package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/console/session"
	"github.com/ferrite-dev/ferrite/console/usertest"
)

// consoleFor serves a console in front of the API server of config (its address and CA only)
// and returns it with a fresh browser.
func consoleFor(t *testing.T, config *rest.Config) *console {
	t.Helper()
	handler, err := New(Config{
		API:      &rest.Config{Host: config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: config.CAData, CAFile: config.CAFile}},
		Sessions: session.NewStore(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	return &console{Server: server, sessions: handler.config.Sessions, browser: newBrowser()}
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// loginBody is the login request of a kubeconfig.
func loginBody(t *testing.T, kubeconfig []byte) string {
	data, err := json.Marshal(map[string]string{"kubeconfig": string(kubeconfig)})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestStandaloneAPIServer logs in to a real ferrite-apiserver (standalone: no
// SelfSubjectReview, only system:masters authorized) through the console: the admin with the
// kubeconfig the server wrote lists, creates and watches Machines through the proxy; a user
// without rights gets the API's 403 Status and no data; a certificate of another CA and a token
// are refused at login.
func TestStandaloneAPIServer(t *testing.T) {
	s := testserver.Start(t)
	c := consoleFor(t, s.Config)
	kubeconfig, err := os.ReadFile(filepath.Join(s.DataDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	response, body := c.do(t, http.MethodPost, "/auth/login", loginBody(t, kubeconfig), jsonBody)
	if response.StatusCode != http.StatusOK {
		t.Fatalf("admin login: %d %s", response.StatusCode, body)
	}
	var admin SessionInfo
	json.Unmarshal([]byte(body), &admin)
	if admin.User != standalone.AdminUser || len(admin.Groups) != 1 || admin.Groups[0] != standalone.AdminGroup || admin.Namespace != "default" {
		t.Errorf("admin login answered %s", body)
	}

	const machines = "/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/default/machines"
	response, body = c.do(t, http.MethodGet, machines, "", nil)
	var list struct {
		Kind     string
		Metadata struct{ ResourceVersion string }
		Items    []json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &list); response.StatusCode != http.StatusOK || err != nil || list.Kind != "MachineList" {
		t.Fatalf("listing machines: %d %s", response.StatusCode, body)
	}

	// A watch from the list's resourceVersion sees a Machine created through the proxy.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+machines+"?watch=1&resourceVersion="+list.Metadata.ResourceVersion, nil)
	watch, err := c.browser.Do(request)
	if err != nil || watch.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", err, watch)
	}
	defer watch.Body.Close()
	machine := `{"apiVersion":"compute.ferrite.dev/v1alpha1","kind":"Machine","metadata":{"name":"web-1"},"spec":{"machineClassRef":{"name":"small"},"image":"debian-13"}}`
	if response, body := c.do(t, http.MethodPost, machines, machine, map[string]string{"Content-Type": "application/json"}); response.StatusCode != http.StatusForbidden {
		t.Errorf("create without the CSRF token: %d %s", response.StatusCode, body)
	}
	response, body = c.do(t, http.MethodPost, machines, machine, map[string]string{"Content-Type": "application/json", session.CSRFHeader: admin.CSRFToken})
	if response.StatusCode != http.StatusCreated {
		t.Fatalf("creating a machine through the proxy: %d %s", response.StatusCode, body)
	}
	events := bufio.NewReader(watch.Body)
	line, err := events.ReadString('\n')
	var event struct {
		Type   string
		Object struct{ Metadata struct{ Name string } }
	}
	if err != nil || json.Unmarshal([]byte(line), &event) != nil || event.Type != "ADDED" || event.Object.Metadata.Name != "web-1" {
		t.Fatalf("watch event through the proxy: %q %v", line, err)
	}
	// A validation error passes through as the API's 422 Status.
	bad := strings.Replace(machine, `"web-1"`, `"Not_A_Name"`, 1)
	response, body = c.do(t, http.MethodPost, machines, bad, map[string]string{"Content-Type": "application/json", session.CSRFHeader: admin.CSRFToken})
	if response.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `"kind":"Status"`) || !strings.Contains(body, "metadata.name") {
		t.Errorf("an invalid machine: %d %s", response.StatusCode, body)
	}

	// A user the server knows but does not authorize.
	bob := consoleFor(t, s.Config)
	response, body = bob.do(t, http.MethodPost, "/auth/login", loginBody(t, usertest.Kubeconfig(t, s, "bob")), jsonBody)
	if response.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"bob"`) || !strings.Contains(body, `"namespace":"team-bob"`) {
		t.Fatalf("bob's login: %d %s", response.StatusCode, body)
	}
	response, body = bob.do(t, http.MethodGet, machines, "", nil)
	if response.StatusCode != http.StatusForbidden || !strings.Contains(body, `"kind":"Status"`) || strings.Contains(body, "web-1") {
		t.Errorf("bob lists machines: %d %s, want the API's 403 Status", response.StatusCode, body)
	}

	// Credentials the server refuses.
	other := consoleFor(t, s.Config)
	foreign := t.TempDir()
	ca, _ := pki.EnsureCA(foreign, "ca")
	pair, _ := ca.Ensure("mallory", pki.Spec{CommonName: standalone.AdminUser, Organizations: []string{standalone.AdminGroup}, Client: true})
	cert, _ := os.ReadFile(pair.CertFile)
	key, _ := os.ReadFile(pair.KeyFile)
	forged := fmt.Sprintf("apiVersion: v1\nkind: Config\nusers: [{name: m, user: {client-certificate-data: %q, client-key-data: %q}}]\ncontexts: [{name: c, context: {user: m}}]\ncurrent-context: c\n",
		toBase64(cert), toBase64(key))
	response, body = other.do(t, http.MethodPost, "/auth/login", loginBody(t, []byte(forged)), jsonBody)
	if response.StatusCode != http.StatusUnauthorized || !strings.Contains(message(body), "refused the credentials") {
		t.Errorf("a certificate of another CA: %d %s, want 401", response.StatusCode, body)
	}
	response, body = other.do(t, http.MethodPost, "/auth/login", `{"token":"made-up"}`, jsonBody)
	if response.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token the server does not know: %d %s, want 401", response.StatusCode, body)
	}
	if other.sessions.Len() != 0 {
		t.Error("refused logins made sessions")
	}
}

func toBase64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
