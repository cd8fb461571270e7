package standalone

import (
	"context"
	"crypto/tls"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// TestEtcdRequiresClientCertificates starts the embedded etcd and checks who gets in: the
// client certificate of etcd's CA does; a plain-text client, a TLS client without a
// certificate and a client with the API's admin certificate (another CA) do not.
func TestEtcdRequiresClientCertificates(t *testing.T) {
	dir := t.TempDir()
	certs, err := EnsurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := StartEtcd(filepath.Join(dir, "etcd"), certs.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Stop()
	if !strings.HasPrefix(etcd.Endpoint, "https://") {
		t.Fatalf("endpoint %s, want https", etcd.Endpoint)
	}

	trusted, err := certs.Etcd.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := putAndGet(etcd.Endpoint, trusted); err != nil {
		t.Fatalf("client with etcd's client certificate: %v", err)
	}

	plain := strings.Replace(etcd.Endpoint, "https://", "http://", 1)
	if err := putAndGet(plain, nil); err == nil {
		t.Error("a plain-text client could write to etcd")
	}
	withoutCert := &tls.Config{RootCAs: trusted.RootCAs, MinVersion: tls.VersionTLS12}
	if err := putAndGet(etcd.Endpoint, withoutCert); err == nil {
		t.Error("a TLS client without a certificate could write to etcd")
	}
	admin, err := tls.LoadX509KeyPair(certs.AdminCert, certs.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	// GetClientCertificate presents the certificate even though etcd asks for its own CA's.
	withAdminCert := &tls.Config{RootCAs: trusted.RootCAs, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &admin, nil }}
	if err := putAndGet(etcd.Endpoint, withAdminCert); err == nil {
		t.Error("the API admin certificate (not of etcd's CA) could write to etcd")
	}
}

// TestEtcdUpgradesAPlainTextDataDir starts from a data directory as earlier versions left it
// (etcd data written over plain text, a PKI without etcd certificates) and checks that the
// missing certificates are issued and the data is served over TLS.
func TestEtcdUpgradesAPlainTextDataDir(t *testing.T) {
	dir := t.TempDir()
	pkiDir, etcdDir := filepath.Join(dir, "pki"), filepath.Join(dir, "etcd")
	old, err := EnsurePKI(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{old.Etcd.CACert, strings.TrimSuffix(old.Etcd.CACert, ".crt") + ".key",
		old.Etcd.ServerCert, old.Etcd.ServerKey, old.Etcd.ClientCert, old.Etcd.ClientKey} {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
	}
	writePlainTextEtcd(t, etcdDir, "/upgrade/key", "kept")

	certs, err := EnsurePKI(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	if certs.AdminCert != old.AdminCert {
		t.Fatalf("admin certificate moved: %s, was %s", certs.AdminCert, old.AdminCert)
	}
	etcd, err := StartEtcd(etcdDir, certs.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Stop()
	tlsConfig, err := certs.Etcd.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t, etcd.Endpoint, tlsConfig)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Get(ctx, "/upgrade/key")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Fatalf("reading the key written before the upgrade: %v %v", err, resp)
	}
}

// writePlainTextEtcd runs etcd the way earlier versions did (plain text, data in dir/data,
// ports in dir/ports) and writes one key.
func writePlainTextEtcd(t *testing.T, dir, key, value string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	clientPort, peerPort, err := loadPorts(filepath.Join(dir, "ports"))
	if err != nil {
		t.Fatal(err)
	}
	clientURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(clientPort))
	peerURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(peerPort))
	cfg := embed.NewConfig()
	cfg.Name = "ferrite"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*clientURL}, []url.URL{*clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peerURL}, []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	server, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	<-server.Server.ReadyNotify()
	client := newClient(t, clientURL.String(), nil)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Put(ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

func newClient(t *testing.T, endpoint string, tlsConfig *tls.Config) *clientv3.Client {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConfig, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// putAndGet writes and reads a key through endpoint.
func putAndGet(endpoint string, tlsConfig *tls.Config) error {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConfig, DialTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := client.Put(ctx, "/probe", "x"); err != nil {
		return err
	}
	_, err = client.Get(ctx, "/probe")
	return err
}
