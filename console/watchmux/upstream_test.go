package watchmux

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/rest"
)

// fakeAPI is an API server whose answers the tests choose by path, under
// /apis/test.example/v1/: hold (a watch that sends nothing until cancelled), once (one event,
// then the end), text (200 in plain text), broken (500 in plain text), flood (large events
// without end). It counts the held watches and records the last query.
type fakeAPI struct {
	*httptest.Server
	open, cancelled atomic.Int64
	mu              sync.Mutex
	query           url.Values
	accept          string
}

const fakePrefix = "/apis/test.example/v1/"

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.query, f.accept = r.URL.Query(), r.Header.Get("Accept")
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer user-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch strings.TrimPrefix(r.URL.Path, fakePrefix) {
		case "hold":
			f.open.Add(1)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			f.open.Add(-1)
			f.cancelled.Add(1)
		case "once":
			fmt.Fprintln(w, `{"type":"ADDED","object":{"kind":"Thing","metadata":{"name":"a"}}}`)
		case "text":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, "not a watch")
		case "broken":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, "something broke")
		case "flood":
			event := fmt.Sprintf(`{"type":"ADDED","object":{"kind":"Thing","data":%q}}`, strings.Repeat("x", 64<<10))
			for r.Context().Err() == nil {
				if _, err := fmt.Fprintln(w, event); err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// login makes a token session against f.
func (f *fakeAPI) login(t *testing.T, h *harness) (string, *browser) {
	config := &rest.Config{Host: f.URL, BearerToken: "user-token",
		TLSClientConfig: rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})}}
	id, s := h.login(t, "alice", config)
	return id, h.open(t, id, s)
}

// waitOpen waits until the fake API holds n watches.
func (f *fakeAPI) waitOpen(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.open.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the API server holds %d watches, want %d", f.open.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSocketRules: the browser's mistakes are error frames that leave the socket and its
// other watches alone; a socket holds at most MaxWatches; closing it cancels every upstream
// watch.
func TestSocketRules(t *testing.T) {
	api := newFakeAPI(t)
	h := newHarness(t, api.URL)
	_, b := api.login(t, h)

	// A second watch with a live id ends both.
	b.watch("d", fakePrefix+"hold")
	api.waitOpen(t, 1)
	b.watch("d", fakePrefix+"hold")
	if f := b.readError("d"); !strings.Contains(f.Message, "already live") {
		t.Errorf("a duplicate id: %q", f.Message)
	}
	api.waitOpen(t, 0)
	h.waitActive(t, 0)

	b.watch("", fakePrefix+"hold")
	b.readError("")
	long := strings.Repeat("i", MaxIDLength+1)
	b.watch(long, fakePrefix+"hold")
	b.readError(long)
	b.send(Message{Type: "subscribe", ID: "s"})
	if f := b.readError("s"); !strings.Contains(f.Message, `"subscribe" is not known`) {
		t.Errorf("an unknown type: %q", f.Message)
	}
	b.conn.WriteMessage(websocket.TextMessage, []byte("{not json"))
	b.readError("")
	b.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"watch"}`))
	b.readError("")
	b.send(Message{Type: TypeStop, ID: "never-started"}) // no answer: stopping an ended watch is no error
	b.watch("bad-query", fakePrefix+"hold?a=%zz")
	b.readError("bad-query")

	// MaxWatches live watches; the next is refused until one stops. An id of MaxIDLength is fine.
	for i := range MaxWatches - 1 {
		b.watch(fmt.Sprintf("h%d", i), fakePrefix+"hold")
	}
	b.watch(strings.Repeat("i", MaxIDLength), fakePrefix+"hold")
	api.waitOpen(t, MaxWatches)
	b.watch("one-too-many", fakePrefix+"hold")
	if f := b.readError("one-too-many"); !strings.Contains(f.Message, "at most 100") {
		t.Errorf("watch %d: %q", MaxWatches+1, f.Message)
	}
	b.send(Message{Type: TypeStop, ID: "h0"})
	api.waitOpen(t, MaxWatches-1)
	b.watch("h0-again", fakePrefix+"hold")
	api.waitOpen(t, MaxWatches)

	// The browser leaves: the API server sees every watch cancelled.
	cancelled := api.cancelled.Load()
	b.conn.Close()
	api.waitOpen(t, 0)
	h.waitActive(t, 0)
	if n := api.cancelled.Load() - cancelled; n != MaxWatches {
		t.Errorf("%d watches cancelled at the API server, want %d", n, MaxWatches)
	}
}

// TestUpstreamAnswers: the watch request carries the browser's query with watch=1 and asks for
// JSON; a stream's events then its end; answers that are no JSON watch stream; an API server
// that cannot be reached.
func TestUpstreamAnswers(t *testing.T) {
	api := newFakeAPI(t)
	h := newHarness(t, api.URL)
	_, b := api.login(t, h)

	b.watch("once", fakePrefix+"once?resourceVersion=5&fieldSelector=metadata.name%3Da&watch=false")
	f := b.read()
	if f.Type != TypeEvent || f.ID != "once" || string(f.Event) != `{"type":"ADDED","object":{"kind":"Thing","metadata":{"name":"a"}}}` {
		t.Errorf("the event: %s", show(f))
	}
	if f := b.read(); f.Type != TypeEnd || f.ID != "once" {
		t.Errorf("after the stream: %s, want its end", show(f))
	}
	api.mu.Lock()
	query, accept := api.query, api.accept
	api.mu.Unlock()
	if query.Get("watch") != "1" || len(query["watch"]) != 1 || query.Get("resourceVersion") != "5" || query.Get("fieldSelector") != "metadata.name=a" || accept != "application/json" {
		t.Errorf("the API server got query %v, Accept %q", query, accept)
	}
	// The id may be used again once its watch is over.
	b.watch("once", fakePrefix+"once")
	if f := b.read(); f.Type != TypeEvent || f.ID != "once" {
		t.Errorf("the id used again: %s", show(f))
	}
	b.read()

	b.watch("text", fakePrefix+"text")
	if f := b.readError("text"); !strings.Contains(f.Message, "not a JSON watch stream") {
		t.Errorf("a text answer: %q", f.Message)
	}
	b.watch("broken", fakePrefix+"broken")
	f = b.read()
	var status struct {
		Kind, Message string
		Code          int
	}
	if f.Type != TypeStatus || f.Code != http.StatusInternalServerError || json.Unmarshal(f.Status, &status) != nil ||
		status.Kind != "Status" || status.Code != http.StatusInternalServerError || status.Message != "something broke" {
		t.Errorf("a 500 in plain text: %s, want a status frame with a Status made of it", show(f))
	}
	b.watch("missing", fakePrefix+"missing")
	if f := b.read(); f.Type != TypeStatus || f.Code != http.StatusNotFound {
		t.Errorf("a 404: %s", show(f))
	}

	// No API server at the address.
	api.Close()
	b.watch("gone", fakePrefix+"once")
	if f := b.read(); f.Type != TypeStatus || f.Code != http.StatusBadGateway || !strings.Contains(string(f.Status), "API server: ") {
		t.Errorf("an API server that cannot be reached: %s", show(f))
	}
}

// TestSlowBrowser: a browser that stops reading while a watch floods it has its socket closed
// once the send queue stays full, and the upstream watch is cancelled, rather than the
// console buffering without bound.
func TestSlowBrowser(t *testing.T) {
	api := newFakeAPI(t)
	h := newHarness(t, api.URL)
	h.handler.queueLength, h.handler.stallTimeout = 4, 200*time.Millisecond
	_, b := api.login(t, h)
	b.watch("flood", fakePrefix+"flood")
	h.waitActive(t, 1)
	h.waitActive(t, 0) // the browser reads nothing
	if err := b.closed(); err == nil {
		t.Error("the socket stayed open")
	}
}
