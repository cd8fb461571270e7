// Package console is the machinepoollet's console endpoint: an HTTPS server, reached only by
// ferrite-apiserver (machines/console) with a client certificate, that attaches to the serial
// console of a Machine of the pool through the machine runtime's Console RPC, or returns its
// scrollback (ReadConsoleLog).
//
// GET /console/NAMESPACE/NAME is either a WebSocket upgrade speaking the Kubernetes streaming
// protocol v5.channel.k8s.io (channel 0 stdin, 1 stdout, 3 the final metav1.Status, 4 terminal
// sizes; tty only), or, with logs=true, a plain request answered with the scrollback bytes.
package console

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Options configure the console endpoint.
type Options struct {
	// BindAddress is host:port to listen on; empty disables the endpoint.
	BindAddress string
	// AdvertiseAddress is the host (IP or DNS name) the apiserver reaches the endpoint at; the
	// port is BindAddress's.
	AdvertiseAddress string
	// CertFile and KeyFile are the serving certificate and key.
	CertFile, KeyFile string
	// ClientCAFile holds the CAs whose client certificates are accepted (the apiserver's).
	ClientCAFile string
	// AllowedNames, when set, are the only client certificate common names or organizations
	// accepted.
	AllowedNames []string
}

// AddFlags adds the options' flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.BindAddress, "console-bind-address", o.BindAddress, "host:port of the HTTPS console endpoint ferrite-apiserver connects to (machines/console); empty disables it")
	fs.StringVar(&o.AdvertiseAddress, "console-advertise-address", o.AdvertiseAddress, "address ferrite-apiserver reaches the console endpoint at, published in the pool's status.runtimeEndpoint; default: the bind host, or this host's name when it binds all addresses")
	fs.StringVar(&o.CertFile, "tls-cert-file", o.CertFile, "serving certificate of the console endpoint (PEM)")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", o.KeyFile, "private key of --tls-cert-file")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA bundle that verifies the client certificates of the console endpoint (ferrite-apiserver's --poollet-client-certificate)")
	fs.StringSliceVar(&o.AllowedNames, "console-allowed-names", o.AllowedNames, "client certificate common names or organizations accepted by the console endpoint; empty accepts any certificate of --client-ca-file")
}

// Validate checks that an enabled endpoint has its certificates.
func (o *Options) Validate() error {
	if o.BindAddress == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(o.BindAddress); err != nil {
		return fmt.Errorf("--console-bind-address %q: %w", o.BindAddress, err)
	}
	var missing []string
	for flag, value := range map[string]string{"--tls-cert-file": o.CertFile, "--tls-private-key-file": o.KeyFile, "--client-ca-file": o.ClientCAFile} {
		if value == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("--console-bind-address needs %v", missing)
	}
	return nil
}

// URL is the endpoint's base URL for the pool's status.runtimeEndpoint, https://HOST:PORT, with
// the port of listener (the bound one when BindAddress asked for port 0).
func (o *Options) URL(listener net.Listener) (string, error) {
	bindHost, port, err := net.SplitHostPort(listener.Addr().String())
	if err != nil {
		return "", err
	}
	host := o.AdvertiseAddress
	if host == "" {
		if configured, _, err := net.SplitHostPort(o.BindAddress); err == nil && configured != "" {
			bindHost = configured
		}
		host = bindHost
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if host, err = os.Hostname(); err != nil {
				return "", fmt.Errorf("--console-advertise-address is needed: %w", err)
			}
		}
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// Server serves the console endpoint of one pool.
type Server struct {
	Options
	// Pool is the MachinePool served.
	Pool string
	// Machines reads the pool's Machines (the poollet manager's cache).
	Machines client.Reader
	// Runtime is the machine runtime.
	Runtime runtimev1alpha1.MachineRuntimeClient
	// Listener, when set, is used instead of listening on BindAddress.
	Listener net.Listener
}

// TLSConfig is the endpoint's TLS configuration: TLS 1.2 or later, a client certificate of
// ClientCAFile required and verified.
func (o *Options) TLSConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file/--tls-private-key-file: %w", err)
	}
	pem, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--client-ca-file %s holds no PEM certificate", o.ClientCAFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// HTTP/1.1 only: the WebSocket upgrade needs it.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// Listen opens the endpoint's listener on BindAddress, unless Listener is set.
func (s *Server) Listen() (net.Listener, error) {
	if s.Listener == nil {
		listener, err := net.Listen("tcp", s.BindAddress)
		if err != nil {
			return nil, fmt.Errorf("console endpoint: %w", err)
		}
		s.Listener = listener
	}
	return s.Listener, nil
}

// Start serves the endpoint until ctx ends (a controller-runtime manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	tlsConfig, err := s.TLSConfig()
	if err != nil {
		return err
	}
	listener, err := s.Listen()
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- server.Serve(tls.NewListener(listener, tlsConfig)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Sessions are hijacked connections: Close ends the listener, and every session ends
		// with ctx through BaseContext.
		server.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// NeedLeaderElection is false: every poollet serves its own pool's consoles.
func (s *Server) NeedLeaderElection() bool { return false }
