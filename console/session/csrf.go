package session

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// CSRFHeader carries the session's CSRF token on mutating requests.
const CSRFHeader = "X-CSRF-Token"

// CheckCSRF says whether token is the session's CSRF token.
func (s *Session) CheckCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken)) == 1
}

// Safe says whether a request of method changes nothing, so needs no CSRF token.
func Safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// CheckOrigin refuses a request that a browser sent from another origin than the console's
// own: its Origin header (required when required is set, as for WebSockets) must name the
// request's scheme and host, and its Sec-Fetch-Site header, when the browser sends one, must
// not say cross-site or same-site.
func CheckOrigin(r *http.Request, required bool) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return fmt.Errorf("the request comes from another site (Sec-Fetch-Site: %s)", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if required {
			return fmt.Errorf("the request has no Origin header")
		}
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" {
		return fmt.Errorf("origin %q is not this console's", origin)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != scheme || !strings.EqualFold(withoutDefaultPort(u.Host, scheme), withoutDefaultPort(r.Host, scheme)) {
		return fmt.Errorf("origin %q is not this console's (%s://%s)", origin, scheme, r.Host)
	}
	return nil
}

// withoutDefaultPort drops :80 from an http host and :443 from an https one, as browsers do
// in Origin headers.
func withoutDefaultPort(host, scheme string) string {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		if strings.Contains(name, ":") {
			return "[" + name + "]"
		}
		return name
	}
	return host
}
