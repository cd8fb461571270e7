package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/session"
)

func TestAPIPath(t *testing.T) {
	for raw, want := range map[string]string{
		"/k8s/api":                              "/api",
		"/k8s/apis":                             "/apis",
		"/k8s/api/v1/namespaces/default/events": "/api/v1/namespaces/default/events",
		"/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines/vm.1/console": "/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines/vm.1/console",
		"/k8s/apis/rbac.authorization.k8s.io/v1/clusterroles/system:viewer":         "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:viewer",
		// A Machine named proxy is not a proxy subresource.
		"/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/proxy/machines/proxy": "/apis/compute.ferrite.dev/v1alpha1/namespaces/proxy/machines/proxy",
		"/k8s/api/v1/namespaces/proxy":                                           "/api/v1/namespaces/proxy",

		"/k8s/":                                 "",
		"/k8s/version":                          "",
		"/k8s/healthz":                          "",
		"/k8s/openapi/v2":                       "",
		"/k8s/../auth/session":                  "",
		"/k8s/api/../../auth":                   "",
		"/k8s/api/%2e%2e/%2e%2e/x":              "",
		"/k8s/api/./v1":                         "",
		"/k8s/api//v1":                          "",
		"/k8s/api/v1/":                          "",
		"/k8s/api%2fv1":                         "",
		"/k8s/apis/a%2Fb":                       "",
		"/k8s/api/v1/%5c..%5cx":                 "",
		"/k8s/api/v1/namespaces/a/pods/p/proxy": "",
		"/k8s/api/v1/namespaces/a/pods/p/proxy/x.html":  "",
		"/k8s/api/v1/namespaces/a/services/s:80/proxy/": "",
		"/k8s/api/v1/nodes/n/proxy/metrics":             "",
		"/k8s/api/v1/proxy/namespaces/a/pods/p":         "",
		"/k8s/apis/g/v1/namespaces/a/things/t/proxy":    "",
		"/api/v1": "",
	} {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := apiPath(u)
		if want == "" {
			if err == nil {
				t.Errorf("apiPath(%q) = %q, want it refused", raw, got)
			}
		} else if err != nil || got != want {
			t.Errorf("apiPath(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

// CheckPath takes paths as they follow Prefix, with their leading slash.
func TestCheckPath(t *testing.T) {
	for escaped, want := range map[string]string{
		"/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines": "/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines",
		"/api/v1/namespaces/a%20b":                                 "/api/v1/namespaces/a b",
		"api/v1":                                                   "",
		"//api/v1":                                                 "",
		"/k8s/api/v1":                                              "",
		"/api/v1/namespaces/a/pods/p/proxy":                        "",
		"/api/v1/..":                                               "",
	} {
		got, err := CheckPath(escaped)
		if want == "" {
			if err == nil {
				t.Errorf("CheckPath(%q) = %q, want it refused", escaped, got)
			}
		} else if err != nil || got != want {
			t.Errorf("CheckPath(%q) = %q, %v; want %q", escaped, got, err, want)
		}
	}
}

// upstream is a fake API server that records the requests it gets.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	// watchDone is closed when the handler of a watch sees its request cancelled.
	watchDone chan struct{}
	// release ends the watch's second event.
	release chan struct{}
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{watchDone: make(chan struct{}), release: make(chan struct{})}
	u.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Clone(context.Background()))
		u.mu.Unlock()
		w.Header().Set("Set-Cookie", "upstream=1")
		w.Header().Set("Www-Authenticate", `Basic realm="kubernetes"`)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "1" {
			flusher := w.(http.Flusher)
			fmt.Fprintln(w, `{"type":"ADDED","object":{"kind":"Machine","metadata":{"name":"a"}}}`)
			flusher.Flush()
			select {
			case <-r.Context().Done():
				close(u.watchDone)
				return
			case <-u.release:
			}
			fmt.Fprintln(w, `{"type":"ADDED","object":{"kind":"Machine","metadata":{"name":"b"}}}`)
			flusher.Flush()
			<-r.Context().Done()
			close(u.watchDone)
			return
		}
		if r.Header.Get("Authorization") != "Bearer user-token" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, `{"kind":"Status","code":403,"message":"forbidden"}`)
			return
		}
		fmt.Fprintf(w, `{"path":%q,"query":%q}`+"\n", r.URL.Path, r.URL.RawQuery)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return nil
	}
	return u.requests[len(u.requests)-1]
}

// newConsole serves the proxy for a logged-in session of a token user against u.
func newConsole(t *testing.T, u *upstream) *httptest.Server {
	t.Helper()
	p, err := New(u.URL+"/", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	config := &rest.Config{Host: u.URL, BearerToken: "user-token",
		TLSClientConfig: rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.Certificate().Raw})}}
	transport, err := rest.TransportFor(config)
	if err != nil {
		t.Fatal(err)
	}
	s := &session.Session{User: "alice", Config: config, Transport: transport}
	console := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r.WithContext(session.NewContext(r.Context(), s)))
	}))
	t.Cleanup(console.Close)
	return console
}

// The browser's credentials and impersonation headers never reach the API server; the
// session's token does.
func TestHeadersStripped(t *testing.T) {
	u := newUpstream(t)
	console := newConsole(t, u)
	request, _ := http.NewRequest(http.MethodPost, console.URL+"/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines?fieldManager=x", strings.NewReader("{}"))
	for name, value := range map[string]string{
		"Cookie": "ferrite_session=secret", "Authorization": "Bearer browser-token",
		"Impersonate-User": "admin", "Impersonate-Group": "system:masters", "Impersonate-Uid": "1", "Impersonate-Extra-Scopes": "all",
		"X-Remote-User": "admin", "X-Remote-Group": "system:masters", "X-Forwarded-For": "10.0.0.1", "Origin": "http://evil.example",
		"X-CSRF-Token": "csrf", "Content-Type": "application/json", "Accept": "application/json",
	} {
		request.Header.Set(name, value)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	response.Body.Close()
	if response.StatusCode != http.StatusOK {
		t.Fatalf("proxied request: %d %s", response.StatusCode, body)
	}
	got := u.last()
	if got.URL.Path != "/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines" || got.URL.RawQuery != "fieldManager=x" {
		t.Errorf("upstream got %s", got.URL)
	}
	if got.Header.Get("Authorization") != "Bearer user-token" {
		t.Errorf("upstream Authorization %q, want the session's token", got.Header.Get("Authorization"))
	}
	for name := range got.Header {
		switch name {
		case "Authorization", "Accept", "Accept-Encoding", "Content-Type", "Content-Length", "User-Agent":
		default:
			t.Errorf("header %s: %q reached the API server", name, got.Header.Values(name))
		}
	}
	if got.Header.Get("Content-Type") != "application/json" || got.Header.Get("Accept") != "application/json" {
		t.Errorf("Content-Type and Accept not forwarded: %v", got.Header)
	}
	if response.Header.Get("Set-Cookie") != "" || response.Header.Get("Www-Authenticate") != "" {
		t.Errorf("the API server's Set-Cookie or Www-Authenticate reached the browser: %v", response.Header)
	}
	if !strings.Contains(strings.Join(response.Header.Values("Content-Security-Policy"), ","), "sandbox") {
		t.Errorf("proxied response without the sandbox policy: %v", response.Header)
	}
}

func TestRefusals(t *testing.T) {
	u := newUpstream(t)
	console := newConsole(t, u)
	for _, c := range []struct {
		path   string
		header map[string]string
		code   int
	}{
		{path: "/k8s/healthz", code: http.StatusNotFound},
		{path: "/k8s/../auth/session", code: http.StatusNotFound},
		{path: "/k8s/api/%2e%2e/%2e%2e/auth/session", code: http.StatusNotFound},
		{path: "/k8s/api%2Fv1", code: http.StatusNotFound},
		{path: "/k8s/api/v1/namespaces/a/pods/p/proxy/", code: http.StatusNotFound},
		{path: "/k8s/api/v1/namespaces/a/pods/p/exec", header: map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, code: http.StatusBadRequest},
	} {
		request, _ := http.NewRequest(http.MethodGet, console.URL+c.path, nil)
		request.URL.Opaque = c.path // keep the path exactly as written
		for name, value := range c.header {
			request.Header.Set(name, value)
		}
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		var message struct{ Message string }
		json.NewDecoder(response.Body).Decode(&message)
		response.Body.Close()
		if response.StatusCode != c.code || message.Message == "" {
			t.Errorf("%s: %d %q, want %d with a message", c.path, response.StatusCode, message.Message, c.code)
		}
	}
	if got := u.last(); got != nil {
		t.Errorf("a refused request reached the API server: %s", got.URL)
	}
}

// A watch's events arrive one by one as the API server sends them, and a watch the browser
// abandons is cancelled at the API server.
func TestWatchStreamsAndCancels(t *testing.T) {
	u := newUpstream(t)
	console := newConsole(t, u)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, console.URL+"/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/a/machines?watch=1", nil)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	lines := bufio.NewReader(response.Body)
	read := func() string {
		got := make(chan string, 1)
		go func() {
			line, _ := lines.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			return line
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event within 10 s: the proxy does not flush")
			return ""
		}
	}
	if first := read(); !strings.Contains(first, `"name":"a"`) {
		t.Fatalf("first event %q", first)
	}
	close(u.release)
	if second := read(); !strings.Contains(second, `"name":"b"`) {
		t.Fatalf("second event %q", second)
	}
	cancel()
	select {
	case <-u.watchDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the API server's watch is still open 10 s after the browser left")
	}
}

func TestNoSession(t *testing.T) {
	p, err := New("https://api.example", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/k8s/api/v1/namespaces", nil))
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "not logged in") {
		t.Errorf("without a session: %d %s", w.Code, w.Body)
	}
	if _, err := New("http://api.example", slog.Default()); err == nil {
		t.Error("New accepted a plain-HTTP API server")
	}
}
