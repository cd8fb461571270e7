package session

import (
	"context"
	"net/http"
)

// CookieName is the name of the session cookie.
const CookieName = "ferrite_session"

// SetCookie sends the session cookie for id. It is Secure even on plain HTTP: browsers keep
// Secure cookies of http://localhost and 127.0.0.1, the only plain-HTTP addresses the console
// serves on.
func SetCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode})
}

// ClearCookie tells the browser to drop the session cookie.
func ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode})
}

// ID is the session id the request's cookie carries, "" without one.
func ID(r *http.Request) string {
	cookie, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	return cookie.Value
}

// FromRequest is the live session of the request's cookie.
func (st *Store) FromRequest(r *http.Request) (*Session, bool) {
	return st.Get(ID(r))
}

type contextKey struct{}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, contextKey{}, s)
}

// FromContext is the session NewContext put into ctx.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(contextKey{}).(*Session)
	return s, ok
}
