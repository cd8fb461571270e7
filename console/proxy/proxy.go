// Package proxy forwards the web console's /k8s/ requests to the Kubernetes API as the
// logged-in user: with the session's own credentials, never the browser's headers of
// authentication or impersonation, and streaming (watches) event by event.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/session"
)

// forwardedHeaders are the only request headers sent on to the API server. Everything else
// stays behind: above all Cookie, Authorization and Impersonate-*, which would let the browser
// act as someone else than the session's user, and the X-Remote-* headers of an aggregating
// front proxy.
var forwardedHeaders = []string{"Accept", "Accept-Encoding", "Content-Type"}

// droppedResponseHeaders are the API server's response headers the browser does not get:
// cookies, a Basic authentication challenge (a login dialog in the browser) and the security
// headers the console sets itself.
var droppedResponseHeaders = []string{"Set-Cookie", "Www-Authenticate", "Content-Security-Policy",
	"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}

// sandboxPolicy is added to every proxied response: should a browser ever render one as a
// page (a pod's log, say), it runs no script and loads nothing.
const sandboxPolicy = "sandbox; default-src 'none'"

// Proxy is the handler of Prefix. It needs the request's session in its context
// (session.NewContext); its Transport makes the requests as that user.
type Proxy struct {
	api     *url.URL
	reverse *httputil.ReverseProxy
	log     *slog.Logger
}

// New returns a proxy to the API server at apiHost (https://host:port, optionally with a path).
func New(apiHost string, log *slog.Logger) (*Proxy, error) {
	api, err := url.Parse(apiHost)
	if err != nil {
		return nil, err
	}
	if api.Scheme != "https" || api.Host == "" {
		return nil, errors.New("the API server's address must be an https:// URL")
	}
	p := &Proxy{api: api, log: log}
	p.reverse = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      Transport,
		FlushInterval:  -1, // watches: every event as soon as it comes
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p, nil
}

// ServeHTTP forwards the request, or answers 404 for a path it does not forward.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := session.FromContext(r.Context()); !ok {
		jsonreply.Error(w, http.StatusUnauthorized, "not logged in")
		return
	}
	path, err := apiPath(r.URL)
	if err != nil {
		jsonreply.Error(w, http.StatusNotFound, err.Error())
		return
	}
	if r.Header.Get("Upgrade") != "" {
		jsonreply.Error(w, http.StatusBadRequest, "protocol upgrades are not forwarded (a machine's console is at /console/ws)")
		return
	}
	w.Header().Add("Content-Security-Policy", sandboxPolicy)
	// The request rewrite sees carries the API server's path.
	forward := *r
	forward.URL = &url.URL{Path: path, RawQuery: r.URL.RawQuery}
	p.reverse.ServeHTTP(w, &forward)
}

// rewrite points the outgoing request at the API server (r.In's URL is the checked API path)
// and keeps only forwardedHeaders.
func (p *Proxy) rewrite(r *httputil.ProxyRequest) {
	r.Out.URL = p.URL(r.In.URL.Path, r.In.URL.RawQuery)
	r.Out.Host = ""
	header := http.Header{}
	for _, name := range forwardedHeaders {
		if values := r.In.Header.Values(name); len(values) > 0 {
			header[name] = values
		}
	}
	r.Out.Header = header
}

// URL is the API server's URL of path (one CheckPath returned) with rawQuery.
func (p *Proxy) URL(path, rawQuery string) *url.URL {
	return &url.URL{Scheme: p.api.Scheme, Host: p.api.Host, Path: strings.TrimSuffix(p.api.Path, "/") + path, RawQuery: rawQuery}
}

func modifyResponse(response *http.Response) error {
	for _, name := range droppedResponseHeaders {
		response.Header.Del(name)
	}
	return nil
}

// upstreamError answers 502 when the API server cannot be reached; when the browser has gone
// (an abandoned watch), there is nobody to answer.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
		return
	}
	user := ""
	if s, ok := session.FromContext(r.Context()); ok {
		user = s.User
	}
	p.log.Warn("proxying to the API server failed", "user", user, "method", r.Method, "path", r.URL.Path, "err", err)
	jsonreply.Error(w, http.StatusBadGateway, "API server: "+err.Error())
}

// Transport makes each request as the user of the session in the request's context
// (session.NewContext), with that session's transport.
var Transport http.RoundTripper = sessionTransport{}

type sessionTransport struct{}

func (sessionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s, ok := session.FromContext(r.Context())
	if !ok || s.Transport == nil {
		return nil, errors.New("no session for the request")
	}
	return s.Transport.RoundTrip(r)
}
