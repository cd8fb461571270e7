// Package pki issues the certificates a Ferrite control plane needs on a machine without an
// external certificate authority: a CA per trust domain, serving certificates and client
// certificates. Files are written once and reused, so restarts keep issued kubeconfigs valid.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const validity = 10 * 365 * 24 * time.Hour

// CA is a certificate authority whose certificate and key live in Dir as <Name>.crt and <Name>.key.
type CA struct {
	Dir, Name string
	// CertFile and KeyFile are the paths of the CA's certificate and key.
	CertFile, KeyFile string

	cert *x509.Certificate
	key  crypto.Signer
}

// Pair names the certificate and key files of an issued certificate.
type Pair struct {
	CertFile, KeyFile string
}

// Spec describes a certificate to issue.
type Spec struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
	// Server and Client select the extended key usages.
	Server, Client bool
}

// EnsureCA loads the CA named name from dir, creating it if missing.
func EnsureCA(dir, name string) (*CA, error) {
	ca := &CA{Dir: dir, Name: name, CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	if exists(ca.CertFile) && exists(ca.KeyFile) {
		pair, err := tls.LoadX509KeyPair(ca.CertFile, ca.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading CA %s: %w", name, err)
		}
		if ca.cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
		ca.key = pair.PrivateKey.(crypto.Signer)
		return ca, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := create(template, key.Public(), nil, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA %s: %w", name, err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.key = key
	if err := writeCert(ca.CertFile, der); err != nil {
		return nil, err
	}
	return ca, writeKey(ca.KeyFile, key)
}

// Ensure issues the certificate name (files <name>.crt and <name>.key in the CA's directory)
// unless it exists already.
func (ca *CA) Ensure(name string, spec Spec) (Pair, error) {
	pair := Pair{CertFile: filepath.Join(ca.Dir, name+".crt"), KeyFile: filepath.Join(ca.Dir, name+".key")}
	if exists(pair.CertFile) && exists(pair.KeyFile) {
		return pair, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pair, err
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		DNSNames:    spec.DNSNames,
		IPAddresses: spec.IPs,
	}
	if spec.Server {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := create(template, key.Public(), ca.cert, ca.key)
	if err != nil {
		return pair, fmt.Errorf("issuing %s: %w", name, err)
	}
	if err := writeCert(pair.CertFile, der); err != nil {
		return pair, err
	}
	return pair, writeKey(pair.KeyFile, key)
}

// EnsureSigningKey writes a key pair for signing tokens (for example service-account tokens)
// as <name>.key and <name>.pub in dir, unless it exists.
func EnsureSigningKey(dir, name string) (private, public string, err error) {
	private, public = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if exists(private) && exists(public) {
		return private, public, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	if err := writeKey(private, key); err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", "", err
	}
	return private, public, os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

func create(template *x509.Certificate, public crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(validity)
	if parent == nil {
		parent = template
	}
	return x509.CreateCertificate(rand.Reader, template, parent, public, signer)
}

func writeCert(path string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
