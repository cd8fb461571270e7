package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// PoolletOptions are how ferrite-apiserver connects to machinepoollets' console endpoints
// (machines/console): with a client certificate the poollets verify, checking their serving
// certificates against a CA. Without them machines/console answers 503.
type PoolletOptions struct {
	// ClientCert and ClientKey are the client certificate presented to poollets.
	ClientCert, ClientKey string
	// CA verifies the poollets' serving certificates.
	CA string
}

// AddFlags adds the options' flags to fs.
func (o *PoolletOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ClientCert, "poollet-client-certificate", o.ClientCert, "Client certificate (PEM) presented to machinepoollets' console endpoints for machines/console. Without it machines/console answers 503.")
	fs.StringVar(&o.ClientKey, "poollet-client-key", o.ClientKey, "Private key of --poollet-client-certificate.")
	fs.StringVar(&o.CA, "poollet-certificate-authority", o.CA, "CA bundle (PEM) that verifies machinepoollets' serving certificates.")
}

// Enabled reports whether machines/console can reach poollets.
func (o *PoolletOptions) Enabled() bool { return o.ClientCert != "" }

// Validate checks that the three flags come together and that their files load.
func (o *PoolletOptions) Validate() []error {
	if o.ClientCert == "" && o.ClientKey == "" && o.CA == "" {
		return nil
	}
	if o.ClientCert == "" || o.ClientKey == "" || o.CA == "" {
		return []error{fmt.Errorf("--poollet-client-certificate, --poollet-client-key and --poollet-certificate-authority go together")}
	}
	if _, err := o.TLSConfig(); err != nil {
		return []error{err}
	}
	return nil
}

// TLSConfig reads the files (again on every call, so that renewed certificates apply to the
// next console) into a client TLS configuration: TLS 1.2 or later, the poollet verified
// against CA, never skipped.
func (o *PoolletOptions) TLSConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("--poollet-client-certificate/--poollet-client-key: %w", err)
	}
	pem, err := os.ReadFile(o.CA)
	if err != nil {
		return nil, fmt.Errorf("--poollet-certificate-authority: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--poollet-certificate-authority %s holds no PEM certificate", o.CA)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: roots}, nil
}

// Transport returns a transport to poollets for one console request.
func (o *PoolletOptions) Transport() (*http.Transport, error) {
	config, err := o.TLSConfig()
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		TLSClientConfig:     config,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		// One request per transport: nothing to keep idle.
		DisableKeepAlives: true,
	}, nil
}
