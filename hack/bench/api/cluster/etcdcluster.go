package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

// EtcdCluster is a multi-member etcd on loopback secured as in production: client and peer
// ports speak only TLS, and every member requires a certificate of the cluster's CA from its
// clients and its peers.
type EtcdCluster struct {
	Members []*EtcdMember
	// Endpoints are the members' client URLs (https).
	Endpoints []string
	// CAFile verifies the members; ClientCert and ClientKey are a client certificate
	// (ferrite-apiserver's --etcd-cafile, --etcd-certfile and --etcd-keyfile).
	CAFile, ClientCert, ClientKey string
	// Client talks to every member.
	Client *clientv3.Client
	tls    *tls.Config
}

// EtcdMember is one member process of an EtcdCluster.
type EtcdMember struct {
	// Name is the member's name; ClientURL its client URL.
	Name, ClientURL string
	bin, dir        string
	args            []string
	proc            *process
	starts          int
}

// StartEtcdCluster starts size members of bin with their data and certificates under dir and
// waits until the cluster answers reads and writes. On failure it stops what it started.
func StartEtcdCluster(bin, dir string, size int) (*EtcdCluster, error) {
	ca, err := pki.EnsureCA(filepath.Join(dir, "pki"), "etcd-ca")
	if err != nil {
		return nil, err
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	client, err := ca.Ensure("etcd-client", pki.Spec{CommonName: "ferrite-apiserver", Client: true})
	if err != nil {
		return nil, err
	}
	c := &EtcdCluster{CAFile: ca.CertFile, ClientCert: client.CertFile, ClientKey: client.KeyFile}
	var peers []string
	for i := range size {
		clientPort, err := FreePort()
		if err != nil {
			return nil, err
		}
		peerPort, err := FreePort()
		if err != nil {
			return nil, err
		}
		m := &EtcdMember{Name: fmt.Sprintf("m%d", i), ClientURL: fmt.Sprintf("https://127.0.0.1:%d", clientPort), bin: bin, dir: dir}
		// Peers authenticate to each other with the same certificate they serve with.
		cert, err := ca.Ensure("etcd-"+m.Name, pki.Spec{CommonName: m.Name, Server: true, Client: true, IPs: loopback, DNSNames: []string{"localhost"}})
		if err != nil {
			return nil, err
		}
		peer := fmt.Sprintf("https://127.0.0.1:%d", peerPort)
		m.args = []string{"--name=" + m.Name, "--data-dir=" + filepath.Join(dir, m.Name),
			"--listen-client-urls=" + m.ClientURL, "--advertise-client-urls=" + m.ClientURL,
			"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--client-cert-auth", "--trusted-ca-file=" + ca.CertFile, "--cert-file=" + cert.CertFile, "--key-file=" + cert.KeyFile,
			"--peer-client-cert-auth", "--peer-trusted-ca-file=" + ca.CertFile, "--peer-cert-file=" + cert.CertFile, "--peer-key-file=" + cert.KeyFile,
			"--initial-cluster-token=ferrite-etcd-cluster", "--log-level=warn"}
		peers = append(peers, m.Name+"="+peer)
		c.Members = append(c.Members, m)
		c.Endpoints = append(c.Endpoints, m.ClientURL)
	}
	for _, m := range c.Members {
		m.args = append(m.args, "--initial-cluster="+strings.Join(peers, ","), "--initial-cluster-state=new")
	}
	tlsInfo := transport.TLSInfo{CertFile: c.ClientCert, KeyFile: c.ClientKey, TrustedCAFile: c.CAFile}
	if c.tls, err = tlsInfo.ClientConfig(); err != nil {
		return nil, err
	}
	for _, m := range c.Members {
		if err := m.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if c.Client, err = clientv3.New(clientv3.Config{Endpoints: c.Endpoints, TLS: c.tls, DialTimeout: 5 * time.Second}); err != nil {
		c.Stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range c.Members {
		if err := c.WaitMember(ctx, m); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// APIServerArgs are the flags that point ferrite-apiserver at the cluster.
func (c *EtcdCluster) APIServerArgs() []string {
	return []string{"--etcd-servers=" + strings.Join(c.Endpoints, ","),
		"--etcd-cafile=" + c.CAFile, "--etcd-certfile=" + c.ClientCert, "--etcd-keyfile=" + c.ClientKey}
}

// Leader returns the member that leads the cluster now.
func (c *EtcdCluster) Leader(ctx context.Context) (*EtcdMember, error) {
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		if status, err := c.Client.Status(ctx, m.ClientURL); err == nil && status.Leader != 0 && status.Header.MemberId == status.Leader {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no running etcd member leads the cluster")
}

// WaitMember waits until m answers a linearizable read through its own client port, which
// needs it to be connected to a leader and caught up with the commit index.
func (c *EtcdCluster) WaitMember(ctx context.Context, m *EtcdMember) error {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, TLS: c.tls, DialTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	var lastErr error
	for ctx.Err() == nil {
		if !m.Running() {
			return fmt.Errorf("etcd member %s exited (log %s)", m.Name, m.LogPath())
		}
		readCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, lastErr = client.Get(readCtx, "health")
		cancel()
		if lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd member %s not ready (log %s): %v", m.Name, m.LogPath(), lastErr)
}

// Stop closes the client and ends every member.
func (c *EtcdCluster) Stop() {
	if c.Client != nil {
		c.Client.Close()
	}
	for _, m := range c.Members {
		m.Stop()
	}
}

// LogPath is the log file of the member's current (or last) run.
func (m *EtcdMember) LogPath() string {
	return filepath.Join(m.dir, fmt.Sprintf("%s-%d.log", m.Name, m.starts))
}

// Start runs the member; it keeps its data directory across restarts.
func (m *EtcdMember) Start() error {
	m.starts++
	proc, err := startLogged(exec.Command(m.bin, m.args...), m.LogPath())
	if err != nil {
		return err
	}
	m.proc = proc
	return nil
}

// Running reports whether the member's process is there.
func (m *EtcdMember) Running() bool {
	if m.proc == nil {
		return false
	}
	select {
	case <-m.proc.done:
		return false
	default:
		return true
	}
}

// PID is the process ID of the member.
func (m *EtcdMember) PID() int { return m.proc.cmd.Process.Pid }

// Kill ends the member with SIGKILL and waits until it is gone.
func (m *EtcdMember) Kill() {
	if m.Running() {
		_ = m.proc.cmd.Process.Signal(syscall.SIGKILL)
		<-m.proc.done
	}
}

// Stop ends the member with SIGTERM (SIGKILL after 20 s).
func (m *EtcdMember) Stop() {
	if m.Running() {
		m.proc.stop()
	}
}
