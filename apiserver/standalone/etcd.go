package standalone

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd is an embedded, single-member etcd listening on loopback.
type Etcd struct {
	server *embed.Etcd
	// Endpoint is the client URL (https), for --etcd-servers.
	Endpoint string
}

// StartEtcd starts etcd with its data under dir. The ports are kept in dir/ports so a restart
// reuses them; a port taken meanwhile is replaced by a free one.
//
// Both listeners speak only TLS and require a client certificate of certs' CA: loopback is
// reachable by every local user, and etcd itself does no authorization, so a client that
// reached it could read and write every object past the apiserver's authentication,
// authorization and admission.
func StartEtcd(dir string, certs EtcdPKI) (*Etcd, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	clientPort, peerPort, err := loadPorts(filepath.Join(dir, "ports"))
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "ferrite"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	clientURL := url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	serverTLS := transport.TLSInfo{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, TrustedCAFile: certs.CACert, ClientCertAuth: true}
	cfg.ClientTLSInfo = serverTLS
	// A single member has no peers, but etcd always listens for them; lock that door too.
	cfg.PeerTLSInfo = serverTLS
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	// Keep the history compacted and the backend bounded, as a production etcd would be.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"
	cfg.QuotaBackendBytes = 8 << 30
	server, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-server.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		server.Close()
		return nil, fmt.Errorf("embedded etcd in %s was not ready within a minute", dir)
	}
	return &Etcd{server: server, Endpoint: clientURL.String()}, nil
}

// Stop shuts etcd down and waits for it.
func (e *Etcd) Stop() { e.server.Close() }

// ClientTLS is the TLS configuration of a client of the embedded etcd: it trusts etcd's CA
// and presents the client certificate.
func (certs EtcdPKI) ClientTLS() (*tls.Config, error) {
	info := transport.TLSInfo{CertFile: certs.ClientCert, KeyFile: certs.ClientKey, TrustedCAFile: certs.CACert}
	return info.ClientConfig()
}

// loadPorts returns the ports recorded in path if they are free, else fresh free ports.
func loadPorts(path string) (client, peer int, err error) {
	if data, readErr := os.ReadFile(path); readErr == nil {
		fields := strings.Fields(string(data))
		if len(fields) == 2 {
			c, errC := strconv.Atoi(fields[0])
			p, errP := strconv.Atoi(fields[1])
			if errC == nil && errP == nil && PortFree(c) && PortFree(p) {
				return c, p, nil
			}
		}
	}
	if client, err = FreePort(); err != nil {
		return 0, 0, err
	}
	if peer, err = FreePort(); err != nil {
		return 0, 0, err
	}
	return client, peer, os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", client, peer)), 0o600)
}

// FreePort returns a TCP port on 127.0.0.1 that is free now.
func FreePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether port on 127.0.0.1 can be listened on now.
func PortFree(port int) bool {
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	listener.Close()
	return true
}
