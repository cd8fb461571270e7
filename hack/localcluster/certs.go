package localcluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

// credentials are the certificates, keys and tokens of the local control plane.
type credentials struct {
	clusterCA, frontProxyCA, ferriteCA   *pki.CA
	kubeServing, admin, ferriteClient    pki.Pair
	kubeControllerManager                pki.Pair
	frontProxyClient, ferriteServing     pki.Pair
	poolletCA                            *pki.CA
	poolletServing, poolletClient        pki.Pair
	serviceAccountKey, serviceAccountPub string
	tokenFile                            string
	tokens                               map[string]string
}

// Test users that authenticate with bearer tokens: one to bind to the viewer role, one
// bound to nothing.
const (
	ViewerUser = "ferrite-viewer-user"
	NobodyUser = "ferrite-nobody"
	// ferriteUser is the identity ferrite-apiserver uses towards kube-apiserver.
	ferriteUser = "system:ferrite-apiserver"
	// kubeControllerManagerUser is kube-controller-manager's own identity; its controllers
	// act as service accounts of kube-system.
	kubeControllerManagerUser = "system:kube-controller-manager"
	// PoolletClientName is the identity ferrite-apiserver presents to machinepoollets'
	// console endpoints (their --console-allowed-names).
	PoolletClientName = "ferrite-apiserver"
	// ServiceName and ServiceNamespace name the Service the APIServices point at; the
	// aggregator checks ferrite's serving certificate against this name.
	ServiceName      = "ferrite-apiserver"
	ServiceNamespace = "ferrite-system"
)

func ensureCredentials(dir string) (*credentials, error) {
	var c credentials
	var err error
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if c.clusterCA, err = pki.EnsureCA(dir, "cluster-ca"); err != nil {
		return nil, err
	}
	if c.frontProxyCA, err = pki.EnsureCA(dir, "front-proxy-ca"); err != nil {
		return nil, err
	}
	if c.ferriteCA, err = pki.EnsureCA(dir, "ferrite-ca"); err != nil {
		return nil, err
	}
	// The machinepoollets' console endpoints and ferrite-apiserver's client certificate for them
	// (machines/console): one CA, which both sides trust.
	if c.poolletCA, err = pki.EnsureCA(dir, "poollet-ca"); err != nil {
		return nil, err
	}
	issue := []struct {
		ca   *pki.CA
		name string
		spec pki.Spec
		into *pki.Pair
	}{
		{c.clusterCA, "kube-apiserver", pki.Spec{CommonName: "kube-apiserver", Server: true, IPs: append(loopback, net.IPv4(10, 96, 0, 1)),
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}}, &c.kubeServing},
		{c.clusterCA, "admin", pki.Spec{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true}, &c.admin},
		{c.clusterCA, "ferrite-apiserver-client", pki.Spec{CommonName: ferriteUser, Client: true}, &c.ferriteClient},
		// kube-apiserver's bootstrap RBAC binds this name to system:kube-controller-manager.
		{c.clusterCA, "kube-controller-manager-client", pki.Spec{CommonName: kubeControllerManagerUser, Client: true}, &c.kubeControllerManager},
		{c.frontProxyCA, "front-proxy-client", pki.Spec{CommonName: "front-proxy-client", Client: true}, &c.frontProxyClient},
		{c.ferriteCA, "ferrite-apiserver", pki.Spec{CommonName: ServiceName, Server: true, IPs: loopback,
			DNSNames: []string{"localhost", ServiceName + "." + ServiceNamespace + ".svc", ServiceName + "." + ServiceNamespace + ".svc.cluster.local"}}, &c.ferriteServing},
		{c.poolletCA, "machinepoollet-serving", pki.Spec{CommonName: "machinepoollet", Server: true, IPs: loopback, DNSNames: []string{"localhost"}}, &c.poolletServing},
		{c.poolletCA, "ferrite-apiserver-poollet-client", pki.Spec{CommonName: PoolletClientName, Client: true}, &c.poolletClient},
	}
	for _, cert := range issue {
		if *cert.into, err = cert.ca.Ensure(cert.name, cert.spec); err != nil {
			return nil, err
		}
	}
	if c.serviceAccountKey, c.serviceAccountPub, err = pki.EnsureSigningKey(dir, "service-account"); err != nil {
		return nil, err
	}
	c.tokenFile = filepath.Join(dir, "tokens.csv")
	c.tokens, err = ensureTokens(c.tokenFile, ViewerUser, NobodyUser)
	return &c, err
}

// ensureTokens keeps a kube-apiserver token file with one random token per user.
func ensureTokens(path string, users ...string) (map[string]string, error) {
	tokens := map[string]string{}
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fields := strings.Split(line, ",")
			if len(fields) >= 2 {
				tokens[fields[1]] = fields[0]
			}
		}
	}
	var lines []string
	for i, user := range users {
		if tokens[user] == "" {
			random := make([]byte, 16)
			if _, err := rand.Read(random); err != nil {
				return nil, err
			}
			tokens[user] = hex.EncodeToString(random)
		}
		lines = append(lines, fmt.Sprintf("%s,%s,%d", tokens[user], user, 1000+i))
	}
	return tokens, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// poolletConsoleArgs are the console endpoint flags of a local machinepoollet: loopback on a
// port of its choosing (it publishes the URL in its pool's status.runtimeEndpoint), the
// certificates of c.Poollet, and only ferrite-apiserver's client certificate accepted.
func (c *Cluster) poolletConsoleArgs() []string {
	return []string{
		"--console-bind-address=127.0.0.1:0",
		"--tls-cert-file=" + c.Poollet.ServingCert, "--tls-private-key-file=" + c.Poollet.ServingKey,
		"--client-ca-file=" + c.Poollet.CA,
		"--console-allowed-names=" + PoolletClientName,
	}
}
