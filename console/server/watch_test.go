package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrite-dev/ferrite/console/watchmux"
)

// The watch WebSocket is served at watchmux.Path behind the session: a logged-in browser's
// watch reaches the API server as its user and its events come back; without the session,
// the same-origin Origin or the CSRF token the upgrade is refused.
func TestWatchSocket(t *testing.T) {
	c := newConsole(t, fakeAPI(t), nil)
	info := c.login(t, "good")
	u := "ws" + strings.TrimPrefix(c.URL, "http") + watchmux.Path + "?csrf="
	consoleURL, _ := url.Parse(c.URL)
	cookies := c.browser.Jar.Cookies(consoleURL)
	header := func(origin string) http.Header {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		for _, cookie := range cookies {
			h.Add("Cookie", cookie.String())
		}
		return h
	}
	for name, r := range map[string]struct {
		csrf   string
		header http.Header
		code   int
	}{
		"no session":   {info.CSRFToken, http.Header{"Origin": {c.URL}}, http.StatusUnauthorized},
		"no Origin":    {info.CSRFToken, header(""), http.StatusForbidden},
		"other Origin": {info.CSRFToken, header("http://evil.example"), http.StatusForbidden},
		"no CSRF":      {"", header(c.URL), http.StatusForbidden},
	} {
		conn, response, err := websocket.DefaultDialer.Dial(u+r.csrf, r.header)
		if err == nil {
			conn.Close()
			t.Errorf("%s: the upgrade succeeded", name)
		} else if response == nil || response.StatusCode != r.code {
			t.Errorf("%s: %v %v, want %d", name, err, response, r.code)
		}
	}

	conn, response, err := websocket.DefaultDialer.Dial(u+info.CSRFToken, header(c.URL))
	if err != nil {
		t.Fatalf("opening the watch socket: %v %v", err, response)
	}
	defer conn.Close()
	conn.WriteJSON(watchmux.Message{Type: watchmux.TypeWatch, ID: "w", Path: "/api/v1/namespaces?resourceVersion=7"})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var frames []watchmux.Frame
	for len(frames) < 2 {
		var f watchmux.Frame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	// The fake API server answers the token's requests with their method and path: one JSON
	// value, then the end of the stream.
	var echo struct{ Method, Path string }
	if frames[0].Type != watchmux.TypeEvent || frames[0].ID != "w" || json.Unmarshal(frames[0].Event, &echo) != nil ||
		echo.Method != http.MethodGet || echo.Path != "/api/v1/namespaces" || frames[1].Type != watchmux.TypeEnd {
		data, _ := json.Marshal(frames)
		t.Errorf("frames %s, want the API server's answer as an event, then the end", data)
	}
}
