// Package usertest makes users of a test ferrite-apiserver for the console's tests: client
// certificates of the server's own CA, which it authenticates (and, standalone, authorizes only
// for its admin).
package usertest

import (
	"os"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
)

// Cert issues a client certificate of s's CA with common name user; it returns the
// certificate and its key, PEM encoded.
func Cert(t testing.TB, s *testserver.Server, user string) (cert, key []byte) {
	t.Helper()
	_, pair := s.UserCert(t, user)
	var err error
	if cert, err = os.ReadFile(pair.CertFile); err != nil {
		t.Fatal(err)
	}
	if key, err = os.ReadFile(pair.KeyFile); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Kubeconfig is a kubeconfig with Cert's credentials for user and the namespace team-<user>.
// Its cluster points at https://127.0.0.1:1, where nothing answers: the console must use
// its own API server, never the kubeconfig's.
func Kubeconfig(t testing.TB, s *testserver.Server, user string) []byte {
	t.Helper()
	cert, key := Cert(t, s, user)
	config := clientcmdapi.NewConfig()
	config.Clusters["elsewhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	config.Contexts["c"] = &clientcmdapi.Context{Cluster: "elsewhere", AuthInfo: user, Namespace: "team-" + user}
	config.CurrentContext = "c"
	data, err := clientcmd.Write(*config)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
