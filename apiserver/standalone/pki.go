package standalone

import (
	"net"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

// PKI names the files of the standalone certificate authority and its certificates.
type PKI struct {
	CACert      string
	ServingCert string
	ServingKey  string
	AdminCert   string
	AdminKey    string
}

// AdminUser and AdminGroup are the identity of the admin certificate; system:masters is
// allowed everything by the apiserver's authorizer.
const (
	AdminUser  = "ferrite-admin"
	AdminGroup = "system:masters"
)

// EnsurePKI creates the CA, the serving certificate (for localhost and the loopback addresses)
// and the admin client certificate under dir, unless they exist already, so that restarts keep
// the kubeconfigs users have copied working.
func EnsurePKI(dir string) (*PKI, error) {
	ca, err := pki.EnsureCA(dir, "ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.Ensure("serving", pki.Spec{
		CommonName: "ferrite-apiserver", Server: true,
		DNSNames: []string{"localhost", "ferrite-apiserver"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	})
	if err != nil {
		return nil, err
	}
	admin, err := ca.Ensure("admin", pki.Spec{CommonName: AdminUser, Organizations: []string{AdminGroup}, Client: true})
	if err != nil {
		return nil, err
	}
	return &PKI{CACert: ca.CertFile, ServingCert: serving.CertFile, ServingKey: serving.KeyFile, AdminCert: admin.CertFile, AdminKey: admin.KeyFile}, nil
}
