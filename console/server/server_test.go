package server

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/session"
)

// fakeAPI answers SelfSubjectReviews for the token "good" (user alice) and 401 for any other,
// and echoes the path of other requests made with "good".
func fakeAPI(t *testing.T) *httptest.Server {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		if r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews" {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintln(w, `{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","status":{"userInfo":{"username":"alice","groups":["team-a","system:authenticated"]}}}`)
			return
		}
		fmt.Fprintf(w, `{"method":%q,"path":%q}`+"\n", r.Method, r.URL.Path)
	}))
	t.Cleanup(api.Close)
	return api
}

// console is a console server in front of api with a browser (cookie jar) to talk to it.
type console struct {
	*httptest.Server
	sessions *session.Store
	browser  *http.Client
}

func newConsole(t *testing.T, api *httptest.Server, files fstest.MapFS) *console {
	t.Helper()
	config := Config{
		API:      &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})}},
		Sessions: session.NewStore(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if files != nil {
		config.App = files
	}
	handler, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	jar, _ := cookiejar.New(nil)
	return &console{Server: server, sessions: config.Sessions, browser: &http.Client{Jar: jar}}
}

// do sends a request as the browser would from the console's page (same Origin).
func (c *console) do(t *testing.T, method, path, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	request, err := http.NewRequest(method, c.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	request.Header.Set("Origin", c.URL)
	for name, value := range header {
		if value == "" {
			request.Header.Del(name)
		} else {
			request.Header.Set(name, value)
		}
	}
	response, err := c.browser.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(response.Body)
	response.Body.Close()
	return response, string(data)
}

var jsonBody = map[string]string{"Content-Type": "application/json"}

// login logs the browser in with token and returns the session's JSON.
func (c *console) login(t *testing.T, token string) SessionInfo {
	t.Helper()
	response, body := c.do(t, http.MethodPost, "/auth/login", fmt.Sprintf(`{"token":%q}`, token), jsonBody)
	if response.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", response.StatusCode, body)
	}
	var info SessionInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func message(body string) string {
	var m struct{ Message string }
	json.Unmarshal([]byte(body), &m)
	return m.Message
}

func TestLoginSessionLogout(t *testing.T) {
	c := newConsole(t, fakeAPI(t), nil)
	if response, body := c.do(t, http.MethodGet, "/auth/session", "", nil); response.StatusCode != http.StatusUnauthorized || message(body) != "not logged in" {
		t.Errorf("session before login: %d %s", response.StatusCode, body)
	}

	// Refused logins.
	for _, r := range []struct {
		name, body string
		header     map[string]string
		code       int
		message    string
	}{
		{"bad token", `{"token":"bad"}`, jsonBody, http.StatusUnauthorized, "the API server refused the credentials: Unauthorized"},
		{"no JSON", `{"token":"good"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, "must be JSON"},
		{"other origin", `{"token":"good"}`, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, http.StatusForbidden, "not this console's"},
		{"unknown field", `{"password":"x"}`, jsonBody, http.StatusBadRequest, `unknown field "password"`},
		{"bad kubeconfig", `{"kubeconfig":"apiVersion: v1\nkind: Config\ncurrent-context: x"}`, jsonBody, http.StatusBadRequest, `kubeconfig: context "x" not found`},
	} {
		response, body := c.do(t, http.MethodPost, "/auth/login", r.body, r.header)
		if response.StatusCode != r.code || !strings.Contains(message(body), r.message) {
			t.Errorf("%s: %d %s, want %d %q", r.name, response.StatusCode, body, r.code, r.message)
		}
		if response.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a refused login set a cookie", r.name)
		}
	}
	if c.sessions.Len() != 0 {
		t.Fatalf("refused logins made %d sessions", c.sessions.Len())
	}

	// A login; the cookie's attributes.
	response, body := c.do(t, http.MethodPost, "/auth/login", `{"token":"good"}`, jsonBody)
	if response.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", response.StatusCode, body)
	}
	cookie := response.Header.Get("Set-Cookie")
	for _, attribute := range []string{"ferrite_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, attribute) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, attribute)
		}
	}
	var info SessionInfo
	json.Unmarshal([]byte(body), &info)
	if info.User != "alice" || len(info.Groups) != 2 || info.Namespace != "default" || len(info.CSRFToken) < 40 {
		t.Errorf("login answered %s", body)
	}
	if response, body := c.do(t, http.MethodGet, "/auth/session", "", nil); response.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"alice"`) || !strings.Contains(body, info.CSRFToken) {
		t.Errorf("session after login: %d %s", response.StatusCode, body)
	}

	// A second login replaces the first session.
	again := c.login(t, "good")
	if c.sessions.Len() != 1 || again.CSRFToken == info.CSRFToken {
		t.Errorf("after a second login: %d sessions; CSRF token changed: %v", c.sessions.Len(), again.CSRFToken != info.CSRFToken)
	}

	// Logout needs the CSRF token and the console's origin.
	if response, body := c.do(t, http.MethodPost, "/auth/logout", "", nil); response.StatusCode != http.StatusForbidden || !strings.Contains(message(body), "X-CSRF-Token") {
		t.Errorf("logout without the CSRF token: %d %s", response.StatusCode, body)
	}
	if response, _ := c.do(t, http.MethodPost, "/auth/logout", "", map[string]string{"X-CSRF-Token": again.CSRFToken, "Origin": "http://evil.example"}); response.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %d", response.StatusCode)
	}
	response, _ = c.do(t, http.MethodPost, "/auth/logout", "", map[string]string{"X-CSRF-Token": again.CSRFToken})
	if response.StatusCode != http.StatusNoContent || !strings.Contains(response.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d, Set-Cookie %q", response.StatusCode, response.Header.Get("Set-Cookie"))
	}
	if c.sessions.Len() != 0 {
		t.Error("logout left the session in the store")
	}
	if response, _ := c.do(t, http.MethodGet, "/auth/session", "", nil); response.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", response.StatusCode)
	}
}

func TestProxyNeedsSessionAndCSRF(t *testing.T) {
	c := newConsole(t, fakeAPI(t), nil)
	const machines = "/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/default/machines"
	if response, body := c.do(t, http.MethodGet, machines, "", nil); response.StatusCode != http.StatusUnauthorized || message(body) != "not logged in" {
		t.Errorf("proxy without a session: %d %s", response.StatusCode, body)
	}
	info := c.login(t, "good")
	if response, body := c.do(t, http.MethodGet, machines, "", map[string]string{"Origin": ""}); response.StatusCode != http.StatusOK || !strings.Contains(body, `"method":"GET"`) {
		t.Errorf("GET needs no CSRF token: %d %s", response.StatusCode, body)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if response, body := c.do(t, method, machines, "{}", nil); response.StatusCode != http.StatusForbidden || !strings.Contains(message(body), "X-CSRF-Token") {
			t.Errorf("%s without the CSRF token: %d %s", method, response.StatusCode, body)
		}
		if response, _ := c.do(t, method, machines, "{}", map[string]string{"X-CSRF-Token": "wrong"}); response.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a wrong CSRF token: %d", method, response.StatusCode)
		}
		if response, _ := c.do(t, method, machines, "{}", map[string]string{"X-CSRF-Token": info.CSRFToken, "Origin": "http://evil.example"}); response.StatusCode != http.StatusForbidden {
			t.Errorf("%s from another origin: %d", method, response.StatusCode)
		}
		if response, _ := c.do(t, method, machines, "{}", map[string]string{"X-CSRF-Token": info.CSRFToken, "Sec-Fetch-Site": "cross-site", "Origin": ""}); response.StatusCode != http.StatusForbidden {
			t.Errorf("%s cross-site: %d", method, response.StatusCode)
		}
		if response, body := c.do(t, method, machines, "{}", map[string]string{"X-CSRF-Token": info.CSRFToken}); response.StatusCode != http.StatusOK || !strings.Contains(body, `"method":"`+method+`"`) {
			t.Errorf("%s with the CSRF token: %d %s", method, response.StatusCode, body)
		}
	}
	if response, _ := c.do(t, http.MethodGet, "/k8s/version", "", nil); response.StatusCode != http.StatusNotFound {
		t.Errorf("/k8s/version: %d, want 404", response.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	c := newConsole(t, fakeAPI(t), nil)
	c.login(t, "good")
	for _, path := range []string{"/", "/machines", "/auth/session", "/k8s/api/v1/namespaces", "/k8s/nothing"} {
		response, _ := c.do(t, http.MethodGet, path, "", nil)
		header := response.Header
		if header.Values("Content-Security-Policy")[0] != ContentSecurityPolicy || header.Get("X-Content-Type-Options") != "nosniff" ||
			header.Get("X-Frame-Options") != "DENY" || header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers %v", path, header)
		}
	}
}

func TestStatic(t *testing.T) {
	api := fakeAPI(t)
	notBuilt := newConsole(t, api, nil)
	for path, code := range map[string]int{"/": 200, "/machines": 200, "/app.js": 404} {
		response, body := notBuilt.do(t, http.MethodGet, path, "", nil)
		if response.StatusCode != code || code == 200 && !strings.Contains(body, "make console") {
			t.Errorf("not built, %s: %d %q", path, response.StatusCode, body)
		}
	}

	built := newConsole(t, api, fstest.MapFS{
		"index.html":      {Data: []byte("<html>app</html>")},
		"assets/app-1.js": {Data: []byte("console.log(1)")},
		"favicon.svg":     {Data: []byte("<svg/>")},
	})
	for path, want := range map[string]string{
		"/": "app", "/index.html": "app", "/machines": "app", "/machines/vm.1": "app", "/volumes/v?namespace=x": "app",
		"/assets/app-1.js": "console.log", "/favicon.svg": "<svg/>", "/assets": "app",
		"/assets/missing.js": "404", "/missing.js": "404", "/../index.html": "app",
	} {
		response, body := built.do(t, http.MethodGet, path, "", nil)
		if want == "404" {
			if response.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", path, response.StatusCode)
			}
			continue
		}
		if response.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q, want %q", path, response.StatusCode, body, want)
		}
	}
	response, _ := built.do(t, http.MethodGet, "/assets/app-1.js", "", nil)
	if !strings.Contains(response.Header.Get("Cache-Control"), "immutable") || !strings.Contains(response.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset headers %v", response.Header)
	}
	response, _ = built.do(t, http.MethodGet, "/", "", nil)
	if response.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(response.Header.Get("Content-Type"), "text/html") {
		t.Errorf("index headers %v", response.Header)
	}
	if response, _ := built.do(t, http.MethodPost, "/", "", nil); response.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", response.StatusCode)
	}
}

// With LoopbackOnly, a request whose Host is not a loopback name (DNS rebinding) is refused.
func TestLoopbackOnly(t *testing.T) {
	handler, err := New(Config{API: &rest.Config{Host: "https://api.example"}, Sessions: session.NewStore(), LoopbackOnly: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for host, code := range map[string]int{"127.0.0.1:8090": 200, "localhost:8090": 200, "[::1]:8090": 200, "LOCALHOST": 200,
		"evil.example:8090": http.StatusMisdirectedRequest, "10.0.0.1:8090": http.StatusMisdirectedRequest} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != code {
			t.Errorf("Host %s: %d, want %d", host, w.Code, code)
		}
	}
}

func TestNewRefusesCredentials(t *testing.T) {
	for name, config := range map[string]*rest.Config{
		"token":       {Host: "https://a", BearerToken: "t"},
		"certificate": {Host: "https://a", TLSClientConfig: rest.TLSClientConfig{CertFile: "c"}},
		"impersonate": {Host: "https://a", Impersonate: rest.ImpersonationConfig{UserName: "u"}},
	} {
		if _, err := New(Config{API: config, Sessions: session.NewStore(), Log: slog.Default()}); err == nil {
			t.Errorf("%s: New accepted an API configuration with the console's own credentials", name)
		}
	}
}
