//go:build e2e

package kubectl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	buildTimeout   = 15 * time.Minute // a cold kubectl build takes about 3.5 min on 2 cores
	readyTimeout   = 90 * time.Second
	kubectlTimeout = 60 * time.Second
	stopTimeout    = 20 * time.Second
)

// suite is the one server every test of the package talks to.
var suite *environment

type environment struct {
	root       string // repository root
	kubectl    string // kubectl binary
	kubeconfig string
	home       string // HOME of kubectl, so its discovery cache is private to the run
	tmp        string // everything the run writes; removed at the end
	dataDir    string
	logPath    string
	server     *exec.Cmd
	exited     chan struct{}
	exitErr    error
	// manager is ferrite-controller-manager beside a server of the suite's own: finalizers
	// (class and network protection) and claims need it, as on a real control plane.
	manager    *exec.Cmd
	managerLog string
}

func TestMain(m *testing.M) {
	env, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e kubectl: setting up:", err)
		if env != nil {
			env.stop()
			env.printLog(os.Stderr, 60)
			env.cleanup()
		}
		os.Exit(1)
	}
	suite = env
	code := m.Run()
	if err := env.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e kubectl: stopping the server:", err)
		code = 1
	}
	if panics := env.panics(); len(panics) > 0 {
		fmt.Fprintf(os.Stderr, "e2e kubectl: the server's log shows panics:\n%s\n", strings.Join(panics, "\n"))
		code = 1
	}
	if code != 0 {
		env.printLog(os.Stderr, 60)
	}
	env.cleanup()
	os.Exit(code)
}

// repoRoot is the directory of the main module's go.mod above this package.
func repoRoot() (string, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/ferrite-dev/ferrite\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/ferrite-dev/ferrite) not found")
		}
		dir = parent
	}
}

// binaries returns the apiserver (unless the suite runs against an existing server) and
// kubectl to test, building the defaults when missing.
func binaries(root string, withServer bool) (apiserver, kubectl string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	apiserver = os.Getenv("FERRITE_APISERVER")
	if apiserver == "" && withServer {
		apiserver = filepath.Join(root, "bin", "ferrite-apiserver")
		if _, err := os.Stat(apiserver); err != nil {
			// As `make run` builds it, with the version stamps kubectl needs.
			if err := run(ctx, root, "make", "build"); err != nil {
				return "", "", err
			}
		}
	}
	kubectl = os.Getenv("KUBECTL")
	if kubectl == "" {
		kubectl = filepath.Join(root, "bin", "kubectl")
		// The script is a no-op when bin/kubectl is newer than its module.
		if err := run(ctx, root, filepath.Join(root, "hack", "build-kubectl.sh")); err != nil {
			return "", "", err
		}
	}
	for _, bin := range []string{apiserver, kubectl} {
		if bin == "" {
			continue
		}
		if _, err := os.Stat(bin); err != nil {
			return "", "", err
		}
	}
	return apiserver, kubectl, nil
}

func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start builds what is missing, starts ferrite-apiserver on a free port with a fresh data
// directory and waits until its kubeconfig is written and /readyz answers ok. With
// FERRITE_E2E_KUBECONFIG it starts nothing and tests the server that kubeconfig points at
// (for example the one `make run` started).
func start() (*environment, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	external := os.Getenv("FERRITE_E2E_KUBECONFIG")
	apiserver, kubectl, err := binaries(root, external == "")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "ferrite-e2e-kubectl-")
	if err != nil {
		return nil, err
	}
	env := &environment{
		root:       root,
		kubectl:    kubectl,
		tmp:        tmp,
		dataDir:    filepath.Join(tmp, "data"),
		kubeconfig: filepath.Join(tmp, "data", "kubeconfig"),
		home:       filepath.Join(tmp, "home"),
		logPath:    filepath.Join(tmp, "apiserver.log"),
		exited:     make(chan struct{}),
	}
	if err := os.MkdirAll(env.home, 0o755); err != nil {
		return env, err
	}
	if external != "" {
		env.kubeconfig = external
		close(env.exited)
		fmt.Fprintf(os.Stderr, "e2e kubectl: testing the server of %s\n", external)
		return env, env.waitReady()
	}
	port, err := freePort()
	if err != nil {
		return env, err
	}
	logFile, err := os.Create(env.logPath)
	if err != nil {
		return env, err
	}
	env.server = exec.Command(apiserver, "--data-dir", env.dataDir, "--secure-port", strconv.Itoa(port))
	env.server.Stdout, env.server.Stderr = logFile, logFile
	// The server dies with the test binary, whatever kills it.
	env.server.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := env.server.Start(); err != nil {
		logFile.Close()
		return env, err
	}
	go func() {
		env.exitErr = env.server.Wait()
		logFile.Close()
		close(env.exited)
	}()
	fmt.Fprintf(os.Stderr, "e2e kubectl: %s on 127.0.0.1:%d, data in %s\n", apiserver, port, env.dataDir)
	if err := env.waitReady(); err != nil {
		return env, err
	}
	return env, env.startManager(filepath.Join(filepath.Dir(apiserver), "ferrite-controller-manager"))
}

// startManager runs ferrite-controller-manager against the suite's server; it dies with the
// test binary.
func (e *environment) startManager(binary string) error {
	e.managerLog = filepath.Join(e.tmp, "controller-manager.log")
	logFile, err := os.Create(e.managerLog)
	if err != nil {
		return err
	}
	// No address quarantine: testDelete waits for every sample, the VirtualIP web-public too,
	// and finds nothing left, the load balancer's and gateway's VirtualIPs included.
	e.manager = exec.Command(binary, "--kubeconfig", e.kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--public-address-quarantine", "0")
	e.manager.Stdout, e.manager.Stderr = logFile, logFile
	e.manager.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.manager.Start(); err != nil {
		logFile.Close()
		return err
	}
	go func() { _ = e.manager.Wait(); logFile.Close() }()
	fmt.Fprintf(os.Stderr, "e2e kubectl: %s started\n", binary)
	return nil
}

// waitReady waits for the kubeconfig and for /readyz to answer ok.
func (e *environment) waitReady() error {
	started := time.Now()
	deadline := started.Add(readyTimeout)
	for {
		if e.server != nil {
			select {
			case <-e.exited:
				return fmt.Errorf("ferrite-apiserver exited before it was ready: %v", e.exitErr)
			default:
			}
		}
		if _, err := os.Stat(e.kubeconfig); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, _, err := e.runKubectl(ctx, "", "get", "--raw", "/readyz")
			cancel()
			if err == nil && strings.TrimSpace(out) == "ok" {
				fmt.Fprintf(os.Stderr, "e2e kubectl: ready after %s\n", time.Since(started).Round(time.Millisecond))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready within %s (kubeconfig %s)", readyTimeout, e.kubeconfig)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stop ends the controller manager and the server: SIGTERM, then SIGKILL if the server has not
// exited in time.
func (e *environment) stop() error {
	if e.manager != nil && e.manager.Process != nil {
		_ = e.manager.Process.Signal(syscall.SIGTERM)
	}
	if e.server == nil || e.server.Process == nil {
		return nil
	}
	select {
	case <-e.exited:
		return fmt.Errorf("ferrite-apiserver had already exited: %v", e.exitErr)
	default:
	}
	_ = e.server.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		if e.exitErr != nil {
			return fmt.Errorf("ferrite-apiserver ended with %v after SIGTERM", e.exitErr)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = e.server.Process.Kill()
		<-e.exited
		return fmt.Errorf("ferrite-apiserver ignored SIGTERM for %s; killed", stopTimeout)
	}
}

func (e *environment) cleanup() {
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// panics returns the lines of the server's log that report a panic (also recovered ones).
func (e *environment) panics() []string {
	data, err := os.ReadFile(e.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "panic") {
			out = append(out, line)
		}
	}
	return out
}

// printLog writes the last lines of the server's and the controller manager's logs.
func (e *environment) printLog(w *os.File, lines int) {
	for _, path := range []string{e.logPath, e.managerLog} {
		data, err := os.ReadFile(path)
		if path == "" || err != nil {
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(w, "--- last %d lines of %s\n%s\n---\n", len(all), path, strings.Join(all, "\n"))
	}
}

// runKubectl runs kubectl against the server with stdin as its input.
func (e *environment) runKubectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, e.kubectl, args...)
	cmd.Dir = e.root
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"KUBECONFIG=" + e.kubeconfig,
		"KUBECTL_COMMAND_HEADERS=false",
	}
	cmd.Stdin = strings.NewReader(stdin)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), ctx.Err())
	}
	return outBuf.String(), errBuf.String(), err
}

// kubectl runs kubectl and fails the test unless it succeeds; it returns stdout.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return kubectlIn(t, "", args...)
}

// kubectlIn is kubectl with stdin (for -f -).
func kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := kubectlResult(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// kubectlFails runs kubectl, fails the test unless it fails, and returns stdout and stderr together.
func kubectlFails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := kubectlResult(t, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want an error\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, stderr)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out + stderr
}

func kubectlResult(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	out, stderr, err := suite.runKubectl(ctx, stdin, args...)
	t.Logf("$ kubectl %s\n%s%s", strings.Join(args, " "), out, stderr)
	return out, stderr, err
}

// table is `kubectl get` output: the header and the cells of each row, cut at the header's
// column offsets (cells may contain spaces, as in the quota's USED/HARD).
type table struct {
	headers []string
	rows    []map[string]string
}

var headerCell = regexp.MustCompile(`\S+`)

func parseTable(t *testing.T, out string) table {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in output %q", out)
	}
	var tab table
	bounds := headerCell.FindAllStringIndex(lines[0], -1)
	for _, b := range bounds {
		tab.headers = append(tab.headers, lines[0][b[0]:b[1]])
	}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, b := range bounds {
			end := len(line)
			if i+1 < len(bounds) {
				end = min(bounds[i+1][0], len(line))
			}
			if b[0] < len(line) {
				row[tab.headers[i]] = strings.TrimSpace(line[b[0]:end])
			}
		}
		tab.rows = append(tab.rows, row)
	}
	return tab
}

// row returns the row whose NAME is name.
func (tab table) row(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, r := range tab.rows {
		if r["NAME"] == name {
			return r
		}
	}
	t.Fatalf("no row %q in table %v", name, tab.rows)
	return nil
}
