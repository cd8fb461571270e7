package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// options are ferrite-console's flags.
type options struct {
	bindAddress             string
	tlsCertFile, tlsKeyFile string
	apiServer, apiCAFile    string
	kubeconfig              string
	tlsCertificate          *tls.Certificate
	api                     *rest.Config
}

// parseOptions reads and checks the flags, loads the serving certificate and works out the API
// server's address and CA.
func parseOptions(args []string, output io.Writer) (*options, error) {
	o := &options{}
	flags := flag.NewFlagSet("ferrite-console", flag.ContinueOnError)
	flags.SetOutput(output)
	flags.StringVar(&o.bindAddress, "bind-address", "127.0.0.1:8090", "address to serve on; without --tls-cert-file only a loopback address")
	flags.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serving certificate (PEM, chain included) for HTTPS")
	flags.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "private key of --tls-cert-file")
	flags.StringVar(&o.apiServer, "api-server", "", "URL of the Kubernetes API (https://host:port): kube-apiserver, or a standalone ferrite-apiserver")
	flags.StringVar(&o.apiCAFile, "api-ca-file", "", "CA bundle (PEM) that signed the API server's serving certificate; default: the system's roots")
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "instead of --api-server and --api-ca-file: take the server and CA of this kubeconfig's current context (never its credentials)")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	var err error
	if err = o.loadTLS(); err != nil {
		return nil, err
	}
	if err = checkBindAddress(o.bindAddress, o.tlsCertificate != nil); err != nil {
		return nil, err
	}
	if o.api, err = o.apiConfig(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) loadTLS() error {
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	if o.tlsCertFile == "" {
		return nil
	}
	certificate, err := tls.LoadX509KeyPair(o.tlsCertFile, o.tlsKeyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert-file and --tls-private-key-file: %w", err)
	}
	o.tlsCertificate = &certificate
	return nil
}

// checkBindAddress refuses to serve plain HTTP on anything but loopback: session cookies and
// the credentials of the login form would cross the network in clear.
func checkBindAddress(address string, tls bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("--bind-address %q: %w", address, err)
	}
	if tls {
		return nil
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--bind-address %q is not a loopback address: serving beyond loopback needs HTTPS (--tls-cert-file and --tls-private-key-file), since logins and session cookies would cross the network in clear", address)
	}
	return nil
}

// apiConfig is the API server's address and CA, without credentials.
func (o *options) apiConfig() (*rest.Config, error) {
	switch {
	case o.apiServer != "" && o.kubeconfig != "":
		return nil, errors.New("give --api-server or --kubeconfig, not both")
	case o.apiServer != "":
		config := &rest.Config{Host: o.apiServer}
		if o.apiCAFile != "" {
			ca, err := os.ReadFile(o.apiCAFile)
			if err != nil {
				return nil, fmt.Errorf("--api-ca-file: %w", err)
			}
			config.CAData = ca
		}
		return config, checkAPIConfig(config, "--api-server", "--api-ca-file")
	case o.kubeconfig != "":
		if o.apiCAFile != "" {
			return nil, errors.New("--api-ca-file goes with --api-server; with --kubeconfig the CA is the kubeconfig's")
		}
		return kubeconfigAPI(o.kubeconfig)
	default:
		return nil, errors.New("--api-server (with --api-ca-file) or --kubeconfig is required")
	}
}

// kubeconfigAPI is the server and CA of the current context of the kubeconfig at path.
func kubeconfigAPI(path string) (*rest.Config, error) {
	kubeconfig, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	context, ok := kubeconfig.Contexts[kubeconfig.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("--kubeconfig %s: current context %q not found", path, kubeconfig.CurrentContext)
	}
	cluster, ok := kubeconfig.Clusters[context.Cluster]
	if !ok {
		return nil, fmt.Errorf("--kubeconfig %s: cluster %q of context %q not found", path, context.Cluster, kubeconfig.CurrentContext)
	}
	if cluster.InsecureSkipTLSVerify {
		return nil, fmt.Errorf("--kubeconfig %s: cluster %q has insecure-skip-tls-verify: the console sends its users' credentials only to a verified server", path, context.Cluster)
	}
	config := &rest.Config{Host: cluster.Server}
	config.ServerName = cluster.TLSServerName
	config.CAData = cluster.CertificateAuthorityData
	if len(config.CAData) == 0 && cluster.CertificateAuthority != "" {
		caFile := cluster.CertificateAuthority
		if !filepath.IsAbs(caFile) {
			caFile = filepath.Join(filepath.Dir(path), caFile)
		}
		if config.CAData, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: cluster %q: certificate-authority: %w", path, context.Cluster, err)
		}
	}
	return config, checkAPIConfig(config, "--kubeconfig "+path+": server", "--kubeconfig "+path+": certificate-authority")
}

// checkAPIConfig checks the server's URL and CA; hostFlag and caFlag name where they came from.
func checkAPIConfig(config *rest.Config, hostFlag, caFlag string) error {
	u, err := url.Parse(config.Host)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s %q: want an https:// URL", hostFlag, config.Host)
	}
	if len(config.CAData) > 0 && !x509.NewCertPool().AppendCertsFromPEM(config.CAData) {
		return fmt.Errorf("%s: no PEM certificate in it", caFlag)
	}
	return nil
}
