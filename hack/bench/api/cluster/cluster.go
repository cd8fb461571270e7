// Package cluster starts etcd (one member, or a cluster of several with TLS) and
// ferrite-apiserver as separate processes on loopback for the benchmarks (hack/bench/api,
// hack/bench/machines) and the crash and high-availability tests (test/e2e/crash,
// test/e2e/ha), and reads their CPU time and resident memory from /proc. Each process has its
// own PID, so what /proc reports is its own.
package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Etcd is an etcd server process listening on loopback.
type Etcd struct {
	// Endpoint is the client URL (http://127.0.0.1:PORT).
	Endpoint string
	// Client talks to it directly.
	Client *clientv3.Client
	proc   *process
}

// StartEtcd starts bin as a single-member etcd with its data under dir and waits until it
// answers. Its log goes to dir/etcd.log.
func StartEtcd(bin, dir string) (*Etcd, error) {
	clientPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	cmd := exec.Command(bin, "--name=bench", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=bench="+peer, "--log-level=warn")
	proc, err := startLogged(cmd, filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	e := &Etcd{Endpoint: client, proc: proc}
	if e.Client, err = clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second}); err != nil {
		e.Stop()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := e.Client.Get(ctx, "health")
		cancel()
		if err == nil {
			return e, nil
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("etcd not ready after 30s (log %s): %w", filepath.Join(dir, "etcd.log"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the process ID of etcd.
func (e *Etcd) PID() int { return e.proc.cmd.Process.Pid }

// Stop closes the client and ends etcd.
func (e *Etcd) Stop() {
	if e.Client != nil {
		e.Client.Close()
	}
	e.proc.stop()
}

// APIServer is a ferrite-apiserver process on an external etcd. It keeps its data directory
// (certificates, admin kubeconfig) and port across restarts.
type APIServer struct {
	// Bin is the ferrite-apiserver binary; DataDir its --data-dir; Etcd the --etcd-servers URL.
	Bin, DataDir, Etcd string
	// Port is the secure port on 127.0.0.1.
	Port int
	// Args are extra flags; Env extra environment variables (NAME=value).
	Args, Env []string

	proc   *process
	starts int
}

// NewAPIServer prepares a server on a free port; Start runs it.
func NewAPIServer(bin, dataDir, etcd string, args ...string) (*APIServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &APIServer{Bin: bin, DataDir: dataDir, Etcd: etcd, Port: port, Args: args}, nil
}

// Kubeconfig is the admin kubeconfig the server writes.
func (s *APIServer) Kubeconfig() string { return filepath.Join(s.DataDir, "kubeconfig") }

// LogPath is the log file of the current (or last) run.
func (s *APIServer) LogPath() string {
	return filepath.Join(s.DataDir, fmt.Sprintf("apiserver-%d.log", s.starts))
}

// Start runs the server and waits until /readyz answers ok.
func (s *APIServer) Start(timeout time.Duration) error {
	s.starts++
	args := append([]string{"--etcd-servers=" + s.Etcd, "--data-dir=" + s.DataDir,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(s.Port)}, s.Args...)
	cmd := exec.Command(s.Bin, args...)
	cmd.Env = append(os.Environ(), s.Env...)
	proc, err := startLogged(cmd, s.LogPath())
	if err != nil {
		return err
	}
	s.proc = proc
	return s.waitReady(timeout)
}

func (s *APIServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.done:
			return fmt.Errorf("ferrite-apiserver exited during start (log %s)", s.LogPath())
		case <-time.After(200 * time.Millisecond):
		}
		config, err := s.RESTConfig()
		if err != nil {
			lastErr = err
			continue
		}
		client, err := rest.HTTPClientFor(config)
		if err != nil {
			return err
		}
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", s.Port))
		if err != nil {
			lastErr = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		lastErr = fmt.Errorf("/readyz: %s", resp.Status)
	}
	return fmt.Errorf("ferrite-apiserver not ready after %s (log %s): %v", timeout, s.LogPath(), lastErr)
}

// RESTConfig reads the admin kubeconfig, with client-side rate limiting off.
func (s *APIServer) RESTConfig() (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		return nil, err
	}
	config.QPS = -1
	return config, nil
}

// PID is the process ID of the running server.
func (s *APIServer) PID() int { return s.proc.cmd.Process.Pid }

// Kill ends the server with SIGKILL and waits until it is gone.
func (s *APIServer) Kill() {
	_ = s.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-s.proc.done
}

// Stop ends the server with SIGTERM (SIGKILL after 20 s).
func (s *APIServer) Stop() {
	if s.proc != nil {
		s.proc.stop()
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a started command and a channel closed when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startLogged(cmd *exec.Cmd, logPath string) (*process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits, with SIGKILL after 20 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
