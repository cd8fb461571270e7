package terminal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/apiserver"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/console/server"
	"github.com/ferrite-dev/ferrite/console/session"
	"github.com/ferrite-dev/ferrite/console/terminal"
	"github.com/ferrite-dev/ferrite/console/usertest"
	"github.com/ferrite-dev/ferrite/poollet/console/consoletest"
)

// browser is a logged-in browser of a console server.
type browser struct {
	console *httptest.Server
	client  *http.Client
	info    server.SessionInfo
}

// login logs a new browser in to console with kubeconfig.
func login(t *testing.T, console *httptest.Server, kubeconfig []byte) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{console: console, client: &http.Client{Jar: jar}}
	body, _ := json.Marshal(map[string]string{"kubeconfig": string(kubeconfig)})
	request, _ := http.NewRequest(http.MethodPost, console.URL+"/auth/login", bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	response, err := b.client.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	data, _ := io.ReadAll(response.Body)
	if response.StatusCode != http.StatusOK || json.Unmarshal(data, &b.info) != nil {
		t.Fatalf("login: %d %s", response.StatusCode, data)
	}
	return b
}

// dial opens the console WebSocket of namespace/name; query adds parameters, header replaces
// the browser's Origin (and more).
func (b *browser) dial(t *testing.T, namespace, name string, query url.Values, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u, _ := url.Parse(b.console.URL)
	u.Scheme, u.Path = "ws", terminal.Path
	values := url.Values{"namespace": {namespace}, "name": {name}, "csrf": {b.info.CSRFToken}}
	for key, value := range query {
		values[key] = value
	}
	u.RawQuery = values.Encode()
	if header == nil {
		header = http.Header{"Origin": {b.console.URL}}
	}
	dialer := websocket.Dialer{Jar: b.client.Jar, HandshakeTimeout: 10 * time.Second}
	return dialer.Dial(u.String(), header)
}

// readUntil reads frames until the binary output contains want or a text frame comes; it
// returns the output and the text frame.
func readUntil(t *testing.T, conn *websocket.Conn, want string) (output, text string) {
	t.Helper()
	var out bytes.Buffer
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return out.String(), "closed: " + err.Error()
		}
		if kind == websocket.TextMessage {
			return out.String(), string(data)
		}
		out.Write(data)
		if want != "" && strings.Contains(out.String(), want) {
			return out.String(), ""
		}
	}
}

// errorFrame decodes the bridge's error frame.
func errorFrame(t *testing.T, text string) terminal.ErrorFrame {
	t.Helper()
	var frame terminal.ErrorFrame
	if err := json.Unmarshal([]byte(text), &frame); err != nil || frame.Type != "error" {
		t.Fatalf("want an error frame, got %q", text)
	}
	return frame
}

// TestBridge runs console sessions through the console server, the real ferrite-apiserver's
// machines/console and a real machinepoollet over the fake runtime: typed bytes reach the
// guest and its echo comes back; tailBytes asks for earlier output; a missing Machine and a
// user without rights get the API's refusal as the error frame; a request without Origin or
// CSRF token is refused before the upgrade; logout and the Machine's deletion end the session.
func TestBridge(t *testing.T) {
	certs := consoletest.NewPKI(t, t.TempDir())
	dir, err := os.MkdirTemp("", "ferrite-console-bridge-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := testserver.StartInDirWith(dir, func(o *apiserver.Options) {
		o.Poollet = apiserver.PoolletOptions{ClientCert: certs.ClientCert, ClientKey: certs.ClientKey, CA: certs.CA}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	const ns = "console"
	pool := consoletest.StartPool(t, s.Config, "console-pool", certs)
	pool.RunMachine(t, s.Client, ns, "vm")

	handler, err := server.New(server.Config{
		API:      &rest.Config{Host: s.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: s.Config.CAData}},
		Sessions: session.NewStore(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	console := httptest.NewServer(handler)
	t.Cleanup(console.Close)
	adminKubeconfig, err := os.ReadFile(filepath.Join(s.DataDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	admin := login(t, console, adminKubeconfig)

	// Keystrokes reach the guest, which echoes them.
	conn, _, err := admin.dial(t, ns, "vm", nil, nil)
	if err != nil {
		t.Fatalf("opening the console: %v", err)
	}
	if err := conn.WriteMessage(websocket.BinaryMessage, []byte("typed in the browser")); err != nil {
		t.Fatal(err)
	}
	if output, text := readUntil(t, conn, "typed in the browser"); text != "" {
		t.Fatalf("the echo of the keystrokes: output %q, then %q", output, text)
	}
	conn.Close()

	// tailBytes: the session starts with earlier output.
	conn, _, err = admin.dial(t, ns, "vm", url.Values{"tailBytes": {"4096"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if output, text := readUntil(t, conn, "typed in the browser"); text != "" {
		t.Errorf("a session with tailBytes=4096: output %q, then %q; want the earlier echo", output, text)
	}
	conn.Close()

	// Refusals of the API arrive as the error frame.
	conn, _, err = admin.dial(t, ns, "missing", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, text := readUntil(t, conn, "")
	if frame := errorFrame(t, text); !strings.Contains(frame.Message, `"missing" not found`) {
		t.Errorf("a missing machine: %q", frame.Message)
	}
	conn.Close()
	bob := login(t, console, usertest.Kubeconfig(t, s, "bob"))
	conn, _, err = bob.dial(t, ns, "vm", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, text = readUntil(t, conn, "")
	if frame := errorFrame(t, text); !strings.Contains(frame.Message, `User "bob" cannot get resource "machines/console"`) {
		t.Errorf("a user without rights: %q", frame.Message)
	}
	conn.Close()

	// Refused before the upgrade.
	for name, c := range map[string]struct {
		browser *browser
		query   url.Values
		header  http.Header
		code    int
	}{
		"no Origin":     {admin, nil, http.Header{}, http.StatusForbidden},
		"other Origin":  {admin, nil, http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		"wrong CSRF":    {admin, url.Values{"csrf": {"wrong"}}, nil, http.StatusForbidden},
		"bad name":      {admin, url.Values{"name": {"../x"}}, nil, http.StatusBadRequest},
		"bad tailBytes": {admin, url.Values{"tailBytes": {"-1"}}, nil, http.StatusBadRequest},
		"not logged in": {&browser{console: console, client: &http.Client{Jar: mustJar()}}, nil, nil, http.StatusUnauthorized},
	} {
		conn, response, err := c.browser.dial(t, ns, "vm", c.query, c.header)
		if err == nil {
			conn.Close()
			t.Errorf("%s: the upgrade succeeded", name)
			continue
		}
		if response == nil || response.StatusCode != c.code {
			t.Errorf("%s: %v %v, want %d", name, err, response, c.code)
		}
	}

	// Logout ends an open session.
	conn, _, err = admin.dial(t, ns, "vm", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.WriteMessage(websocket.BinaryMessage, []byte("before logout"))
	readUntil(t, conn, "before logout")
	request, _ := http.NewRequest(http.MethodPost, console.URL+"/auth/logout", nil)
	request.Header.Set(session.CSRFHeader, admin.info.CSRFToken)
	response, err := admin.client.Do(request)
	if err != nil || response.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %v %v", err, response)
	}
	if _, text := readUntil(t, conn, ""); !strings.Contains(text, "logged out") {
		t.Errorf("after logout the session got %q, want a close saying logged out", text)
	}
	conn.Close()

	// Deleting the Machine ends its console: the runtime's reason arrives, then the close.
	admin = login(t, console, adminKubeconfig)
	conn, _, err = admin.dial(t, ns, "vm", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.WriteMessage(websocket.BinaryMessage, []byte("still here"))
	readUntil(t, conn, "still here")
	if err := s.Client.ComputeV1alpha1().Machines(ns).Delete(context.Background(), "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, text = readUntil(t, conn, "")
	if frame := errorFrame(t, text); !strings.Contains(frame.Message, "closed by the machine runtime") {
		t.Errorf("after the machine's deletion: %q", frame.Message)
	}
	if _, text := readUntil(t, conn, ""); !strings.Contains(text, fmt.Sprint(websocket.CloseNormalClosure)) {
		t.Errorf("after the error frame: %q, want a normal close", text)
	}
}

func mustJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}
