package dpdk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
)

func TestPlaintextTCPRefused(t *testing.T) {
	_, err := dpdk.Dial(dpdk.Config{Address: "127.0.0.1:1337", Underlay: underlay})
	if err == nil || !strings.Contains(err.Error(), "plaintext TCP refused") {
		t.Errorf("dial over plaintext TCP: %v", err)
	}
	_, err = dpdk.Dial(dpdk.Config{Address: "127.0.0.1:1337", Underlay: underlay, TLS: dpdk.TLSFiles{Cert: "c.pem"}})
	if err == nil {
		t.Error("a client certificate without its key was accepted")
	}
}

// tcpFastPath serves a fast path on a loopback TCP port.
func tcpFastPath(t *testing.T, opts ...grpc.ServerOption) (*fastPath, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fp := newFastPath()
	fp.serveOn(t, ln, opts...)
	return fp, ln.Addr().String()
}

func TestInsecureTCPWhenAllowed(t *testing.T) {
	fp, addr := tcpFastPath(t)
	d, err := dpdk.Dial(dpdk.Config{Address: addr, Underlay: underlay, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, svc := full()
	if _, err := d.ApplyServices(context.Background(), s, svc); err != nil {
		t.Fatal(err)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
}

// TestMutualTLS: over TCP with TLS the agent verifies the fast path's certificate and the
// fast path the agent's; an agent without a client certificate gets nowhere.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := certificate(t, dir, "ca", nil, nil)
	certificate(t, dir, "server", ca, caKey)
	certificate(t, dir, "client", ca, caKey)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13})
	fp, addr := tcpFastPath(t, grpc.Creds(creds))

	files := dpdk.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem")}
	d, err := dpdk.Dial(dpdk.Config{Address: addr, Underlay: underlay, TLS: files})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, svc := full()
	if _, err := d.ApplyServices(context.Background(), s, svc); err != nil {
		t.Fatal(err)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}

	anonymous, err := dpdk.Dial(dpdk.Config{Address: addr, Underlay: underlay, TLS: dpdk.TLSFiles{CA: files.CA}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	if _, err := anonymous.Apply(context.Background(), dataplane.State{}); err == nil {
		t.Error("an agent without a client certificate programmed the fast path")
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s after the anonymous agent, want %s", got, fullSizes)
	}
}

// certificate writes name.pem and name-key.pem to dir: a CA when parent is nil, else a
// certificate for 127.0.0.1 signed by parent.
func certificate(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, kind string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
