// Package server wires the web console into one http.Handler: login and sessions under
// /auth/, the API proxy under /k8s/, the console WebSocket at /console/ws, the watch WebSocket
// at /watch/ws and the built app everywhere else, all behind the same security headers.
package server

import (
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/proxy"
	"github.com/ferrite-dev/ferrite/console/session"
	"github.com/ferrite-dev/ferrite/console/terminal"
	"github.com/ferrite-dev/ferrite/console/watchmux"
)

// ContentSecurityPolicy is sent with every response: the app loads everything from its own
// origin and talks only to it.
const ContentSecurityPolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"

// Config is what the console serves.
type Config struct {
	// API is the API server's address and serving CA, without credentials: every request is
	// made with the logged-in user's.
	API *rest.Config
	// Sessions holds the logged-in users.
	Sessions *session.Store
	// App is the built single-page app, nil when it was not built.
	App fs.FS
	// LoopbackOnly refuses requests whose Host header is not a loopback name, so that a web
	// page whose DNS name was re-pointed at 127.0.0.1 (DNS rebinding) cannot use a console
	// that serves plain HTTP on loopback.
	LoopbackOnly bool
	Log          *slog.Logger
}

// Server is the console's handler.
type Server struct {
	config   Config
	proxy    *proxy.Proxy
	terminal *terminal.Handler
	watches  *watchmux.Handler
	// gzipped holds the app's compressible files compressed, made on their first request.
	gzipped gzipCache
}

// New checks config and returns the console's handler.
func New(config Config) (*Server, error) {
	if config.API == nil || config.Sessions == nil || config.Log == nil {
		return nil, errors.New("server: API, Sessions and Log are required")
	}
	if hasCredentials(config.API) {
		return nil, errors.New("server: the API configuration carries credentials, but the console must hold none of its own")
	}
	p, err := proxy.New(config.API.Host, config.Log)
	if err != nil {
		return nil, err
	}
	return &Server{config: config, proxy: p, terminal: &terminal.Handler{Log: config.Log},
		watches: &watchmux.Handler{Proxy: p, Log: config.Log}}, nil
}

func hasCredentials(c *rest.Config) bool {
	return c.BearerToken != "" || c.BearerTokenFile != "" || c.Username != "" || c.Password != "" ||
		len(c.CertData) > 0 || c.CertFile != "" || len(c.KeyData) > 0 || c.KeyFile != "" ||
		c.ExecProvider != nil || c.AuthProvider != nil || c.Impersonate.UserName != "" || c.WrapTransport != nil
}

// ServeHTTP routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if s.config.LoopbackOnly && !loopbackHost(r.Host) {
		jsonreply.Error(w, http.StatusMisdirectedRequest, "host "+r.Host+" is not this console's: it serves only loopback names (localhost, 127.0.0.1, [::1])")
		return
	}
	path := r.URL.Path
	switch {
	case path == "/auth/session":
		s.currentSession(w, r)
	case path == "/auth/login":
		s.login(w, r)
	case path == "/auth/logout":
		s.logout(w, r)
	case strings.HasPrefix(path, "/auth/"):
		jsonreply.Error(w, http.StatusNotFound, "no such endpoint: "+path)
	case path == terminal.Path:
		s.withSession(w, r, s.terminal.ServeHTTP)
	case path == watchmux.Path:
		s.withSession(w, r, s.watches.ServeHTTP)
	case strings.HasPrefix(path, proxy.Prefix) || path == strings.TrimSuffix(proxy.Prefix, "/"):
		s.withSession(w, r, s.proxyRequest)
	default:
		s.static(w, r)
	}
}

// withSession runs next with the request's session in its context, or answers 401.
func (s *Server) withSession(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	current, ok := s.config.Sessions.FromRequest(r)
	if !ok {
		jsonreply.Error(w, http.StatusUnauthorized, "not logged in")
		return
	}
	next(w, r.WithContext(session.NewContext(r.Context(), current)))
}

// proxyRequest forwards a request to the API server once a mutating one has shown the
// session's CSRF token and a same-origin Origin.
func (s *Server) proxyRequest(w http.ResponseWriter, r *http.Request) {
	if !session.Safe(r.Method) {
		if err := session.CheckOrigin(r, false); err != nil {
			jsonreply.Error(w, http.StatusForbidden, err.Error())
			return
		}
		current, _ := session.FromContext(r.Context())
		if !current.CheckCSRF(r.Header.Get(session.CSRFHeader)) {
			jsonreply.Error(w, http.StatusForbidden, "header "+session.CSRFHeader+" is missing or is not the session's CSRF token")
			return
		}
	}
	s.proxy.ServeHTTP(w, r)
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// loopbackHost says whether host (a Host header) names the loopback interface.
func loopbackHost(host string) bool {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
