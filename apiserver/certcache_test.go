package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// countingAuthenticator answers with a fixed user and counts the calls.
type countingAuthenticator struct {
	name  string
	calls int
}

func (a *countingAuthenticator) AuthenticateRequest(*http.Request) (*authenticator.Response, bool, error) {
	a.calls++
	return &authenticator.Response{User: &user.DefaultInfo{Name: a.name, Groups: []string{"system:masters"}}}, true, nil
}

func certRequest(raw string, notAfter time.Time) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1/apis", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte(raw), NotAfter: notAfter}}}
	return req
}

func TestCertCache(t *testing.T) {
	now := time.Now()
	inner := &countingAuthenticator{name: "admin"}
	cache := newCertCache(inner)
	cache.now = func() time.Time { return now }
	valid := now.Add(time.Hour)

	for range 3 {
		resp, ok, err := cache.AuthenticateRequest(certRequest("cert-a", valid))
		if err != nil || !ok || resp.User.GetName() != "admin" {
			t.Fatalf("got %v %v %v", resp, ok, err)
		}
		resp.User.(*user.DefaultInfo).Groups[0] = "changed by a request"
	}
	if inner.calls != 1 {
		t.Errorf("the same certificate was verified %d times, want once", inner.calls)
	}
	if resp, _, _ := cache.AuthenticateRequest(certRequest("cert-a", valid)); resp.User.GetGroups()[0] != "system:masters" {
		t.Errorf("a request changed the cached user: %v", resp.User.GetGroups())
	}

	cache.AuthenticateRequest(certRequest("cert-b", valid))
	if inner.calls != 2 {
		t.Errorf("another certificate was not verified: %d calls", inner.calls)
	}

	withToken := certRequest("cert-a", valid)
	withToken.Header.Set("Authorization", "Bearer x")
	cache.AuthenticateRequest(withToken)
	if inner.calls != 3 {
		t.Errorf("a request with an Authorization header skipped the authenticator: %d calls", inner.calls)
	}

	now = now.Add(certCacheTTL + time.Second)
	cache.AuthenticateRequest(certRequest("cert-a", valid))
	if inner.calls != 4 {
		t.Errorf("a cached verification outlived its TTL: %d calls", inner.calls)
	}

	soon := now.Add(time.Second)
	cache.AuthenticateRequest(certRequest("cert-c", soon))
	now = soon.Add(time.Millisecond)
	cache.AuthenticateRequest(certRequest("cert-c", soon))
	if inner.calls != 6 {
		t.Errorf("a cached verification outlived the certificate: %d calls", inner.calls)
	}

	anonymous := &countingAuthenticator{name: user.Anonymous}
	cache = newCertCache(anonymous)
	cache.AuthenticateRequest(certRequest("cert-a", valid))
	cache.AuthenticateRequest(certRequest("cert-a", valid))
	if anonymous.calls != 2 {
		t.Errorf("an anonymous answer was cached")
	}
}
