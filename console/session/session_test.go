package session

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// clock is a settable time for the store.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTestStore() (*Store, *clock) {
	c := &clock{now: time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)}
	st := NewStore()
	st.Now = c.Now
	return st, c
}

func TestCreateGetDelete(t *testing.T) {
	st, _ := newTestStore()
	a, b := &Session{User: "alice"}, &Session{User: "bob"}
	idA, err := st.Create(a)
	if err != nil {
		t.Fatal(err)
	}
	idB, err := st.Create(b)
	if err != nil {
		t.Fatal(err)
	}
	// 256 random bits, base64url without padding.
	if len(idA) != 43 || idA == idB || a.CSRFToken == "" || a.CSRFToken == b.CSRFToken || a.CSRFToken == idA {
		t.Fatalf("ids %q %q, CSRF tokens %q %q: want distinct 256-bit values", idA, idB, a.CSRFToken, b.CSRFToken)
	}
	if got, ok := st.Get(idA); !ok || got != a {
		t.Errorf("Get(alice's id) = %v, %v", got, ok)
	}
	for _, id := range []string{"", "x", idA + "x", strings.ToUpper(idA)} {
		if _, ok := st.Get(id); ok {
			t.Errorf("Get(%q) found a session", id)
		}
	}
	if _, ok := st.Delete(idA); !ok {
		t.Error("Delete of a live session found none")
	}
	if _, ok := st.Get(idA); ok {
		t.Error("a deleted session is still found")
	}
	if a.Context().Err() == nil {
		t.Error("the context of a deleted session is not done")
	}
	if _, ok := st.Get(idB); !ok || b.Context().Err() != nil {
		t.Error("deleting one session ended another")
	}
}

// A session ends after IdleTimeout without use and after MaxLifetime in any case.
func TestExpiry(t *testing.T) {
	st, c := newTestStore()
	s := &Session{User: "alice"}
	id, _ := st.Create(s)
	// Used every 50 minutes: alive until the absolute limit.
	for c.now.Add(50*time.Minute).Sub(s.created) < DefaultMaxLifetime {
		c.now = c.now.Add(50 * time.Minute)
		if _, ok := st.Get(id); !ok {
			t.Fatalf("session used every 50 minutes expired after %v", c.now.Sub(s.created))
		}
	}
	c.now = s.created.Add(DefaultMaxLifetime)
	if _, ok := st.Get(id); ok {
		t.Errorf("session alive after %v, the absolute limit", DefaultMaxLifetime)
	}
	if s.Context().Err() == nil {
		t.Error("an expired session's context is not done")
	}

	idle := &Session{User: "bob"}
	id, _ = st.Create(idle)
	c.now = c.now.Add(DefaultIdleTimeout - time.Second)
	if _, ok := st.Get(id); !ok {
		t.Fatal("session expired before the idle timeout")
	}
	c.now = c.now.Add(DefaultIdleTimeout)
	if _, ok := st.Get(id); ok {
		t.Errorf("session alive after %v without use", DefaultIdleTimeout)
	}
}

func TestSweep(t *testing.T) {
	st, c := newTestStore()
	old := &Session{User: "old"}
	st.Create(old)
	c.now = c.now.Add(DefaultIdleTimeout / 2)
	fresh := &Session{User: "fresh"}
	freshID, _ := st.Create(fresh)
	c.now = c.now.Add(DefaultIdleTimeout / 2)
	st.Sweep()
	if st.Len() != 1 || old.Context().Err() == nil {
		t.Errorf("after a sweep: %d sessions, the expired one's context %v; want only the fresh one", st.Len(), old.Context().Err())
	}
	if _, ok := st.Get(freshID); !ok {
		t.Error("the sweep dropped a live session")
	}
}

func TestCookies(t *testing.T) {
	w := httptest.NewRecorder()
	SetCookie(w, "abc")
	set := w.Header().Get("Set-Cookie")
	for _, attribute := range []string{"ferrite_session=abc", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(set, attribute) {
			t.Errorf("Set-Cookie %q lacks %s", set, attribute)
		}
	}
	if strings.Contains(set, "Max-Age") || strings.Contains(set, "Expires") || strings.Contains(set, "Domain") {
		t.Errorf("Set-Cookie %q: want a host-only browser-session cookie", set)
	}
	w = httptest.NewRecorder()
	ClearCookie(w)
	if cleared := w.Header().Get("Set-Cookie"); !strings.Contains(cleared, "ferrite_session=;") || !strings.Contains(cleared, "Max-Age=0") {
		t.Errorf("clearing Set-Cookie %q", cleared)
	}

	st, _ := newTestStore()
	s := &Session{User: "alice"}
	id, _ := st.Create(s)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: id})
	if got, ok := st.FromRequest(r); !ok || got != s {
		t.Error("FromRequest does not find the cookie's session")
	}
	if _, ok := st.FromRequest(httptest.NewRequest(http.MethodGet, "/", nil)); ok {
		t.Error("FromRequest found a session without a cookie")
	}
}

func TestCheckCSRF(t *testing.T) {
	s := &Session{CSRFToken: "token"}
	for token, want := range map[string]bool{"token": true, "": false, "toke": false, "tokenx": false, "TOKEN": false} {
		if got := s.CheckCSRF(token); got != want {
			t.Errorf("CheckCSRF(%q) = %v, want %v", token, got, want)
		}
	}
	if (&Session{}).CheckCSRF("") {
		t.Error("an empty token matched a session without one")
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		host, origin, fetchSite string
		tls, required           bool
		ok                      bool
	}{
		{host: "127.0.0.1:8090", origin: "http://127.0.0.1:8090", ok: true},
		{host: "127.0.0.1:8090", origin: "", ok: true},
		{host: "127.0.0.1:8090", origin: "", required: true, ok: false},
		{host: "127.0.0.1:8090", origin: "http://127.0.0.1:8091", ok: false},
		{host: "127.0.0.1:8090", origin: "http://localhost:8090", ok: false},
		{host: "127.0.0.1:8090", origin: "https://127.0.0.1:8090", ok: false},
		{host: "127.0.0.1:8090", origin: "null", ok: false},
		{host: "127.0.0.1:8090", origin: "http://evil.example", ok: false},
		{host: "127.0.0.1:8090", origin: "http://127.0.0.1:8090/path", ok: false},
		{host: "console.example", origin: "https://console.example", tls: true, ok: true},
		{host: "console.example:443", origin: "https://console.example", tls: true, ok: true},
		{host: "Console.Example", origin: "https://console.example", tls: true, ok: true},
		{host: "console.example", origin: "http://console.example", tls: true, ok: false},
		{host: "[::1]:8090", origin: "http://[::1]:8090", ok: true},
		{host: "127.0.0.1:8090", origin: "http://127.0.0.1:8090", fetchSite: "same-origin", ok: true},
		{host: "127.0.0.1:8090", fetchSite: "cross-site", ok: false},
		{host: "127.0.0.1:8090", origin: "http://127.0.0.1:8090", fetchSite: "same-site", ok: false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/k8s/api/v1/namespaces", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.fetchSite != "" {
			r.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		} else {
			r.TLS = nil
		}
		err := CheckOrigin(r, c.required)
		if (err == nil) != c.ok {
			t.Errorf("host %q origin %q Sec-Fetch-Site %q tls %v required %v: err %v, want ok %v", c.host, c.origin, c.fetchSite, c.tls, c.required, err, c.ok)
		}
	}
}
