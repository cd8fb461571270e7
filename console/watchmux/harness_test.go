package watchmux

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/proxy"
	"github.com/ferrite-dev/ferrite/console/session"
)

// harness serves a Handler in front of an API server the way console/server wires it: the
// session of the request's cookie in its context.
type harness struct {
	handler  *Handler
	sessions *session.Store
	console  *httptest.Server
}

func newHarness(t *testing.T, apiHost string) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := proxy.New(apiHost, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{handler: &Handler{Proxy: p, Log: log}, sessions: session.NewStore()}
	h.console = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := h.sessions.FromRequest(r); ok {
			r = r.WithContext(session.NewContext(r.Context(), s))
		}
		h.handler.ServeHTTP(w, r)
	}))
	t.Cleanup(h.console.Close)
	return h
}

// login makes a session of user with config's credentials and returns its cookie value.
func (h *harness) login(t *testing.T, user string, config *rest.Config) (id string, s *session.Session) {
	t.Helper()
	transport, err := rest.TransportFor(config)
	if err != nil {
		t.Fatal(err)
	}
	s = &session.Session{User: user, Config: config, Transport: transport}
	if id, err = h.sessions.Create(s); err != nil {
		t.Fatal(err)
	}
	return id, s
}

// dial opens the watch socket as the browser of session id (none when empty) with csrf;
// header replaces the same-origin Origin when not nil.
func (h *harness) dial(t *testing.T, id, csrf string, header http.Header) (*browser, *http.Response, error) {
	t.Helper()
	if header == nil {
		header = http.Header{"Origin": {h.console.URL}}
	}
	if id != "" {
		header.Set("Cookie", session.CookieName+"="+id)
	}
	u := "ws" + strings.TrimPrefix(h.console.URL, "http") + Path + "?csrf=" + csrf
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, response, err := dialer.Dial(u, header)
	if err != nil {
		return nil, response, err
	}
	b := &browser{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	return b, response, nil
}

// open is dial that must succeed.
func (h *harness) open(t *testing.T, id string, s *session.Session) *browser {
	t.Helper()
	b, response, err := h.dial(t, id, s.CSRFToken, nil)
	if err != nil {
		t.Fatalf("opening the watch socket: %v %v", err, response)
	}
	return b
}

// waitActive waits until n watches run upstream.
func (h *harness) waitActive(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.handler.active.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watches run upstream, want %d", h.handler.active.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is the page's end of a watch socket.
type browser struct {
	t    *testing.T
	conn *websocket.Conn
}

func (b *browser) send(m Message) {
	b.t.Helper()
	if err := b.conn.WriteJSON(m); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) watch(id, path string) { b.send(Message{Type: TypeWatch, ID: id, Path: path}) }

// read returns the next frame.
func (b *browser) read() Frame {
	b.t.Helper()
	b.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	kind, data, err := b.conn.ReadMessage()
	if err != nil {
		b.t.Fatalf("reading a frame: %v", err)
	}
	var f Frame
	if err := json.Unmarshal(data, &f); kind != websocket.TextMessage || err != nil {
		b.t.Fatalf("frame %q (kind %d): %v", data, kind, err)
	}
	return f
}

// readError reads the next frame, which must be an error for id.
func (b *browser) readError(id string) Frame {
	b.t.Helper()
	f := b.read()
	if f.Type != TypeError || f.ID != id || f.Message == "" {
		b.t.Fatalf("got %s, want an error frame for %q", show(f), id)
	}
	return f
}

// closed reads until the server closes the socket and returns the error that says how.
func (b *browser) closed() error {
	b.t.Helper()
	b.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := b.conn.ReadMessage(); err != nil {
			return err
		}
	}
}

// show is f as it was sent, for messages.
func show(f Frame) string {
	data, _ := json.Marshal(f)
	return string(data)
}
