package dpdk

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"
)

// TLSFiles are PEM files securing a TCP connection to the fast path.
type TLSFiles struct {
	// CA verifies the fast path's certificate (the system roots when empty).
	CA string `json:"ca,omitempty"`
	// Cert and Key are the agent's client certificate and key (both or neither).
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

func (t TLSFiles) set() bool { return t != TLSFiles{} }

// isUnix says whether a gRPC target is a unix socket (only reachable from this host).
func isUnix(address string) bool {
	return strings.HasPrefix(address, "unix:") || strings.HasPrefix(address, "unix-abstract:")
}

// transportCredentials picks the channel security: local for unix sockets, TLS for TCP, and
// plaintext TCP only when explicitly allowed, because whoever reaches the port programs the
// host's packet path.
func transportCredentials(cfg Config) (credentials.TransportCredentials, error) {
	switch {
	case isUnix(cfg.Address):
		return local.NewCredentials(), nil
	case cfg.TLS.set():
		c, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("fast path %s: %w", cfg.Address, err)
		}
		return credentials.NewTLS(c), nil
	case cfg.Insecure:
		cfg.Logger.Warn("fast path connection over plaintext TCP: anyone who reaches it can program this host's packet path",
			"address", cfg.Address)
		return insecure.NewCredentials(), nil
	default:
		return nil, fmt.Errorf("fast path %s: plaintext TCP refused; give TLS files (CA, cert, key), use a unix:// socket, or allow it explicitly with insecure", cfg.Address)
	}
}

func tlsConfig(f TLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS13}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate in it", f.CA)
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("tls: client cert %q and key %q go together", f.Cert, f.Key)
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tls client cert %s: %w", f.Cert, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
