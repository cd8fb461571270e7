package standalone

import (
	"net"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

// PKI names the files of the standalone certificate authorities and their certificates.
type PKI struct {
	CACert      string
	ServingCert string
	ServingKey  string
	AdminCert   string
	AdminKey    string

	// Etcd is the embedded etcd's own trust domain.
	Etcd EtcdPKI
}

// EtcdPKI names the files of the embedded etcd's certificate authority. It is separate from
// the apiserver's CA so that a client certificate issued for the API (the admin's, or any
// issued later for another user) never opens etcd: etcd trusts only certificates of this CA.
type EtcdPKI struct {
	CACert string
	// Server is etcd's serving certificate for the loopback addresses (client and peer
	// listeners); it carries client authentication too, for etcd's own gRPC gateway.
	ServerCert, ServerKey string
	// Client is the certificate ferrite-apiserver presents to etcd.
	ClientCert, ClientKey string
}

// AdminUser and AdminGroup are the identity of the admin certificate; system:masters is
// allowed everything by the apiserver's authorizer.
const (
	AdminUser  = "ferrite-admin"
	AdminGroup = "system:masters"
)

// EnsurePKI creates the CAs, the serving certificate (for localhost and the loopback
// addresses), the admin client certificate and etcd's certificates under dir, unless they
// exist already, so that restarts keep the kubeconfigs users have copied working and a data
// directory from an earlier version gains what it lacks.
func EnsurePKI(dir string) (*PKI, error) {
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	ca, err := pki.EnsureCA(dir, "ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.Ensure("serving", pki.Spec{
		CommonName: "ferrite-apiserver", Server: true,
		DNSNames: []string{"localhost", "ferrite-apiserver"},
		IPs:      loopback,
	})
	if err != nil {
		return nil, err
	}
	admin, err := ca.Ensure("admin", pki.Spec{CommonName: AdminUser, Organizations: []string{AdminGroup}, Client: true})
	if err != nil {
		return nil, err
	}
	etcdCA, err := pki.EnsureCA(dir, "etcd-ca")
	if err != nil {
		return nil, err
	}
	etcdServer, err := etcdCA.Ensure("etcd-server", pki.Spec{CommonName: "etcd", Server: true, Client: true, DNSNames: []string{"localhost"}, IPs: loopback})
	if err != nil {
		return nil, err
	}
	etcdClient, err := etcdCA.Ensure("etcd-client", pki.Spec{CommonName: "ferrite-apiserver", Client: true})
	if err != nil {
		return nil, err
	}
	return &PKI{
		CACert: ca.CertFile, ServingCert: serving.CertFile, ServingKey: serving.KeyFile, AdminCert: admin.CertFile, AdminKey: admin.KeyFile,
		Etcd: EtcdPKI{
			CACert:     etcdCA.CertFile,
			ServerCert: etcdServer.CertFile, ServerKey: etcdServer.KeyFile,
			ClientCert: etcdClient.CertFile, ClientKey: etcdClient.KeyFile,
		},
	}, nil
}
