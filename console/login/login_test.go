package login

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

var base = &rest.Config{Host: "https://api.example:6443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca")}}

// clientPair is a self-signed client certificate and its key, PEM, base64 as in a kubeconfig.
func clientPair(t *testing.T, cn string) (cert, key string) {
	t.Helper()
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"team-a"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &private.PublicKey, private)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(private)
	encode := func(kind string, der []byte) string {
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
	}
	return encode("CERTIFICATE", der), encode("PRIVATE KEY", keyDER)
}

// kubeconfig is a kubeconfig whose context "ctx" (current unless current is "") uses user
// "u" with the given user fields, and whose cluster points elsewhere.
func kubeconfig(current, namespace, user string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://elsewhere.example", insecure-skip-tls-verify: true}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: %q}}]
users: [{name: u, user: {%s}}]
current-context: %q
`, namespace, user, current)
}

func TestConfigFor(t *testing.T) {
	cert, key := clientPair(t, "alice")
	certOnly := fmt.Sprintf("client-certificate-data: %s, client-key-data: %s", cert, key)

	// Good logins: the API address and CA are always base's.
	for name, c := range map[string]struct {
		request   Request
		token     string
		cert      bool
		namespace string
	}{
		"token":              {request: Request{Token: " abc.def "}, token: "abc.def", namespace: "default"},
		"Bearer token":       {request: Request{Token: "Bearer abc"}, token: "abc", namespace: "default"},
		"kubeconfig token":   {request: Request{Kubeconfig: kubeconfig("ctx", "team-a", "token: xyz")}, token: "xyz", namespace: "team-a"},
		"kubeconfig cert":    {request: Request{Kubeconfig: kubeconfig("ctx", "", certOnly)}, cert: true, namespace: "default"},
		"kubeconfig context": {request: Request{Kubeconfig: kubeconfig("", "b", certOnly), Context: "ctx"}, cert: true, namespace: "b"},
		"kubeconfig both":    {request: Request{Kubeconfig: kubeconfig("ctx", "", certOnly+", token: t")}, token: "t", cert: true, namespace: "default"},
	} {
		result, err := configFor(base, c.request)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		config := result.Config
		if config.Host != base.Host || string(config.CAData) != "ca" || config.Insecure {
			t.Errorf("%s: host %q CA %q insecure %v, want the console's API server", name, config.Host, config.CAData, config.Insecure)
		}
		if config.BearerToken != c.token || (len(config.CertData) > 0) != c.cert || result.Namespace != c.namespace {
			t.Errorf("%s: token %q cert %v namespace %q, want %q %v %q", name, config.BearerToken, len(config.CertData) > 0, result.Namespace, c.token, c.cert, c.namespace)
		}
	}

	// Bad ones: 400 with a message naming what is wrong.
	for name, c := range map[string]struct {
		request Request
		want    string
	}{
		"nothing":           {Request{}, "give a token or a kubeconfig"},
		"both":              {Request{Token: "a", Kubeconfig: "b"}, "not both"},
		"token with space":  {Request{Token: "a b"}, "token: contains a space"},
		"token context":     {Request{Token: "a", Context: "x"}, "only a kubeconfig has contexts"},
		"not yaml":          {Request{Kubeconfig: "{{{"}, "kubeconfig: "},
		"missing context":   {Request{Kubeconfig: kubeconfig("ctx", "", "token: a"), Context: "x"}, `kubeconfig: context "x" not found`},
		"no current":        {Request{Kubeconfig: kubeconfig("", "", "token: a")}, "current-context is not set"},
		"no credentials":    {Request{Kubeconfig: kubeconfig("ctx", "", "")}, `kubeconfig: user "u" has no token or client certificate`},
		"exec":              {Request{Kubeconfig: kubeconfig("ctx", "", "exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}")}, "needs an exec plugin (exec: /bin/sh)"},
		"auth provider":     {Request{Kubeconfig: kubeconfig("ctx", "", "auth-provider: {name: oidc}")}, "needs an auth provider (auth-provider: oidc)"},
		"certificate file":  {Request{Kubeconfig: kubeconfig("ctx", "", "client-certificate: /etc/ssl/c.pem, client-key: /etc/ssl/k.pem")}, "refers to a file (client-certificate: /etc/ssl/c.pem)"},
		"key file":          {Request{Kubeconfig: kubeconfig("ctx", "", fmt.Sprintf("client-certificate-data: %s, client-key: /k.pem", cert))}, "refers to a file (client-key: /k.pem)"},
		"token file":        {Request{Kubeconfig: kubeconfig("ctx", "", "tokenFile: /var/run/secrets/token")}, "refers to a file (tokenFile: /var/run/secrets/token)"},
		"basic auth":        {Request{Kubeconfig: kubeconfig("ctx", "", "username: a, password: b")}, "basic authentication is not supported"},
		"impersonation":     {Request{Kubeconfig: kubeconfig("ctx", "", "token: a, as: admin")}, "impersonates another user"},
		"cert without key":  {Request{Kubeconfig: kubeconfig("ctx", "", "client-certificate-data: "+cert)}, "client-certificate-data and client-key-data"},
		"mismatched key":    {Request{Kubeconfig: kubeconfig("ctx", "", fmt.Sprintf("client-certificate-data: %s, client-key-data: %s", cert, otherKey(t)))}, "client-certificate-data and client-key-data"},
		"kubeconfig spaces": {Request{Kubeconfig: kubeconfig("ctx", "", `token: "a b"`)}, `user "u": token: contains a space`},
	} {
		_, err := configFor(base, c.request)
		loginErr, ok := err.(*Error)
		if !ok || loginErr.Status != http.StatusBadRequest || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want 400 containing %q", name, err, c.want)
		}
		if ok && strings.Contains(err.Error(), "elsewhere") {
			t.Errorf("%s: %v mentions the kubeconfig's cluster", name, err)
		}
	}
}

func otherKey(t *testing.T) string {
	_, key := clientPair(t, "other")
	return key
}

func TestUserConfigHasNoCredentialsOfBase(t *testing.T) {
	withCredentials := rest.CopyConfig(base)
	withCredentials.BearerToken, withCredentials.CertFile = "console's own", "/console.crt"
	withCredentials.Impersonate.UserName = "admin"
	config := userConfig(withCredentials)
	if config.BearerToken != "" || config.CertFile != "" || config.Impersonate.UserName != "" || config.Host != base.Host {
		t.Errorf("userConfig copied credentials of the console: %+v", config)
	}
}
