package apiserver

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// certCacheTTL bounds how long a verified client certificate is trusted without verifying it
// again. The client CA file is reloaded about once a minute, so a removed CA stops being
// accepted at most this much later than without the cache.
const certCacheTTL = 10 * time.Second

// certCacheSize bounds the number of cached certificate chains; the cache is emptied when full.
const certCacheSize = 4096

// certCache remembers whom a client certificate chain authenticated, so that the chain is not
// verified again on every request. Verifying it (an ECDSA or RSA signature check against the
// client CA) took about a tenth of the apiserver's CPU under a create load. Only requests whose
// sole credential is the TLS client certificate are cached: with an Authorization header the
// inner authenticator always decides. Use it only when no authenticator reads request headers
// on top of a certificate (the front-proxy request-header authenticator does).
type certCache struct {
	inner authenticator.Request
	now   func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]certCacheEntry
}

type certCacheEntry struct {
	response *authenticator.Response
	expires  time.Time
}

// newCertCache wraps inner with a cache of verified client certificates.
func newCertCache(inner authenticator.Request) *certCache {
	return &certCache{inner: inner, now: time.Now, entries: map[[sha256.Size]byte]certCacheEntry{}}
}

// AuthenticateRequest implements authenticator.Request.
func (c *certCache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 || req.Header.Get("Authorization") != "" {
		return c.inner.AuthenticateRequest(req)
	}
	hash := sha256.New()
	for _, cert := range req.TLS.PeerCertificates {
		hash.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	hash.Sum(key[:0])
	now := c.now()
	c.mu.Lock()
	entry, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(entry.expires) {
		return copyResponse(entry.response), true, nil
	}
	response, ok, err := c.inner.AuthenticateRequest(req)
	if err != nil || !ok || response.User.GetName() == user.Anonymous {
		return response, ok, err
	}
	expires := now.Add(certCacheTTL)
	for _, cert := range req.TLS.PeerCertificates {
		if cert.NotAfter.Before(expires) {
			expires = cert.NotAfter
		}
	}
	c.mu.Lock()
	if len(c.entries) >= certCacheSize {
		clear(c.entries)
	}
	c.entries[key] = certCacheEntry{response: copyResponse(response), expires: expires}
	c.mu.Unlock()
	return response, true, nil
}

// copyResponse returns a response that shares nothing mutable with r, so that no request
// can change what the cache hands to the next one.
func copyResponse(r *authenticator.Response) *authenticator.Response {
	info := &user.DefaultInfo{
		Name:   r.User.GetName(),
		UID:    r.User.GetUID(),
		Groups: append([]string(nil), r.User.GetGroups()...),
	}
	if extra := r.User.GetExtra(); extra != nil {
		info.Extra = make(map[string][]string, len(extra))
		for k, v := range extra {
			info.Extra[k] = append([]string(nil), v...)
		}
	}
	return &authenticator.Response{User: info, Audiences: append(authenticator.Audiences(nil), r.Audiences...)}
}
